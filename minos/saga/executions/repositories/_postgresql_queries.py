"""The table of ``PostgreSqlSagaExecutionRepository``, the statements it runs on it, and the conditions of a listing."""

from __future__ import annotations

from typing import Any

from ..._postgresql import serialised_schema
from .listing import SagaExecutionQuery

_SAGA_NAME = "(document #>> '{definition,steps,0,on_execute,callback}')"
# Whether a compensation ran out of attempts (see ``SagaExecution.compensations_stalled``): absent means no.
_STALLED = "coalesce(document #> '{orchestrator,compensations_stalled}' = 'true', false)"

# Rows whose outbox holds a message never confirmed published (see ``SagaExecution.outbox``).
_UNSENT = """document -> 'orchestrator' -> 'outbox' @> '[{"sent_at": null}]'"""
# Whether a stored execution surely ignores a reply to the request $2, as ``SagaManager`` would decide after loading
# it: it awaits another request (``SagaExecution.awaited_request``), waits for no reservation, and holds no message
# $2 in its outbox (a compensation whose reply is awaited is there), nor one whose identifier it does not know.
# Documents without ``awaiting`` (0.7.0's, finished executions...) never match: their reply is decided after loading.
_IGNORES_REPLY = """(
    (document #>> '{orchestrator,awaiting}') <> $2
    AND NOT document ? 'reservations'
    AND NOT EXISTS (
        SELECT FROM jsonb_array_elements(coalesce(document #> '{orchestrator,outbox}', '[]')) AS message
        WHERE message ->> 'identifier' IS NULL OR message ->> 'identifier' = $2
    )
)"""
# When a paused execution's wait expires or its deadline passes (see ``SagaExecution.wake_at``); fixed-width UTC text.
_WAKE_AT = "(document -> 'orchestrator' ->> 'wake_at')"


class _Queries:
    def __init__(self, table: str):
        self.create = serialised_schema(
            b"minos.saga.schema",
            f"""
            CREATE TABLE IF NOT EXISTS {table} (
                uuid UUID PRIMARY KEY,
                status TEXT NOT NULL,
                user_uuid UUID NULL,
                document JSONB NOT NULL,
                created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
                updated_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
                version BIGINT NOT NULL DEFAULT 1
            );
            CREATE INDEX IF NOT EXISTS {table}_status_updated_at_idx ON {table} (status, updated_at, uuid);
            CREATE INDEX IF NOT EXISTS {table}_unsent_idx ON {table} (uuid) WHERE {_UNSENT};
            CREATE INDEX IF NOT EXISTS {table}_wake_at_idx ON {table} ({_WAKE_AT}) WHERE {_WAKE_AT} IS NOT NULL;
            """,
        )
        # The statements of every store, load and delete, prepared on each connection before its first use (see
        # ``prepare``): the server then parses and plans them once per session, not at each call, which saves it a
        # third of a store's CPU and a fifth of a load's. Parameters: status, user, document and uuid for a write.
        prepared = _PreparedStatements()
        self.store = prepared.add(
            "store",
            "text, uuid, text, uuid",
            f"""
            INSERT INTO {table} (status, user_uuid, document, uuid) VALUES ($1, $2, $3::jsonb, $4)
            ON CONFLICT (uuid) DO UPDATE SET
                status = EXCLUDED.status,
                user_uuid = EXCLUDED.user_uuid,
                document = EXCLUDED.document,
                updated_at = clock_timestamp(),
                version = {table}.version + 1
            """,
        )
        self.load = prepared.add("load", "uuid", f"SELECT document::text FROM {table} WHERE uuid = $1")
        self.delete = prepared.add("delete", "uuid", f"DELETE FROM {table} WHERE uuid = $1")
        # Under an execution lock: one round trip takes the lock and then (a statement of its own, so with a
        # snapshot taken after the lock was granted) reads the row; stores are conditional on its version.
        read = prepared.add("read", "uuid", f"SELECT document::text, version FROM {table} WHERE uuid = $1")
        self.lock_and_load = f"SELECT pg_advisory_lock(%s); {read}"
        # The same for a reply to the request $2, which also releases the lock ($3), in that statement, when the
        # execution surely ignores the reply (see ``lock_for_reply``); the third column says whether it did.
        read_for_reply = prepared.add(
            "read_for_reply",
            "uuid, text, bigint",
            f"""
            SELECT document::text, version, CASE WHEN {_IGNORES_REPLY} THEN pg_advisory_unlock($3) ELSE false END
            FROM {table} WHERE uuid = $1
            """,
        )
        self.lock_and_load_for_reply = f"SELECT pg_advisory_lock(%s); {read_for_reply}"
        self.insert = prepared.add(
            "insert",
            "text, uuid, text, uuid",
            f"""
            INSERT INTO {table} (status, user_uuid, document, uuid) VALUES ($1, $2, $3::jsonb, $4)
            ON CONFLICT (uuid) DO NOTHING RETURNING version
            """,
        )
        self.update = prepared.add(
            "update",
            "text, uuid, text, uuid, bigint",
            f"""
            UPDATE {table} SET status = $1, user_uuid = $2, document = $3::jsonb, updated_at = clock_timestamp(),
                version = version + 1
            WHERE uuid = $4 AND version = $5 RETURNING version
            """,
        )
        self.delete_version = prepared.add(
            "delete_version", "uuid, bigint", f"DELETE FROM {table} WHERE uuid = $1 AND version = $2 RETURNING version"
        )
        self.prepare = prepared.statement
        """What prepares the statements above on a connection (one round trip)."""
        self.unlock = "SELECT pg_advisory_unlock(%s)"
        # Prefixed to the last write under a lock, it releases the lock in that write's round trip. The statements
        # of one query string run in one (implicit) transaction: the transaction-level lock taken on the same key
        # outlasts the session lock until the write commits, so no other process can take the lock and read the
        # row before the write is visible (it would read the previous version and run the step again).
        self.unlock_before = "SELECT pg_advisory_xact_lock(%s); SELECT pg_advisory_unlock(%s); "
        # Prefixed to a new execution's first write (see lock_new): its lock, taken in that round trip, for the
        # rest of the block; or, when that write is also the last, only until it commits.
        self.lock_before = "SELECT pg_advisory_lock(%s); "
        self.lock_until_commit = "SELECT pg_advisory_xact_lock(%s); "
        self.unsent = f"SELECT uuid FROM {table} WHERE {_UNSENT}"
        self.due = f"SELECT uuid FROM {table} WHERE {_WAKE_AT} <= %s"


class _PreparedStatements:
    """Statements ``PREPARE``d on a connection (plain SQL: aiopg has no API for it), run by ``EXECUTE`` with the
    driver's ``%s`` parameters. A connection serves one repository, whose table they name."""

    def __init__(self) -> None:
        self._prepares: list[str] = []

    def add(self, name: str, types: str, statement: str) -> str:
        """Prepare ``statement`` (parameters ``$1``... of ``types``) as ``name``; returns the ``EXECUTE`` of it."""
        name = f"minos_saga_{name}"
        self._prepares.append(f"PREPARE {name}({types}) AS {statement.strip()}")
        return f"EXECUTE {name}({', '.join(['%s'] * len(types.split(',')))})"

    @property
    def statement(self) -> str:
        """The ``PREPARE`` statements of all of them, in one string."""
        return ";\n".join(self._prepares)


def _conditions(query: SagaExecutionQuery) -> tuple[str, list[Any]]:
    """The ``WHERE`` clause selecting what ``query`` lists (empty for everything), and its parameters."""
    conditions: list[str] = []
    parameters: list[Any] = []
    if query.uuid is not None:
        conditions.append("uuid = %s")
        parameters.append(str(query.uuid))
    if query.status is not None:
        conditions.append("status = %s")
        parameters.append(query.status.raw)
    if query.user is not None:
        conditions.append("user_uuid = %s")
        parameters.append(str(query.user))
    if query.saga is not None:
        conditions.append(f"({_SAGA_NAME} = %s OR right({_SAGA_NAME}, %s) = %s)")
        parameters += [query.saga, len(query.saga) + 1, f".{query.saga}"]
    if query.compensations_stalled is not None:
        conditions.append(f"{_STALLED} = %s")
        parameters.append(query.compensations_stalled)
    if query.updated_before is not None:
        conditions.append("updated_at < %s")
        parameters.append(query.updated_before)
    if query.updated_after is not None:
        conditions.append("updated_at > %s")
        parameters.append(query.updated_after)
    if query.after is not None:
        conditions.append("(updated_at, uuid) > (%s, %s)")
        parameters += [query.after.updated_at, str(query.after.uuid)]
    where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
    return where, parameters
