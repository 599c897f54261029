"""The round trips issue 12 was filed against, on this package's engine: a baseline of ``benchmarks/postgresql.py``.

Under an execution's lock, taking the lock, reading the row, each store (an upsert) and releasing the lock are one
round trip each, on the pooled connection that holds the lock; work outside a lock is the repository's own. Comparing
it with the repository isolates what the fewer round trips gain, engine speed aside.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from uuid import UUID

import aiopg

from minos.saga import (
    PostgreSqlSagaExecutionRepository,
    SagaExecution,
    SagaExecutionNotFoundException,
    SagaExecutionRepository,
)
from minos.saga.executions.repositories.postgresql import advisory_lock_key


def upsert(table: str) -> str:
    """The plain upsert of a row of ``table`` (a repository's table): the floor of (a) and the filing-time store."""
    return (
        f"INSERT INTO {table} (uuid, status, user_uuid, document) VALUES (%s, %s, %s, %s::jsonb) "
        "ON CONFLICT (uuid) DO UPDATE SET status = EXCLUDED.status, user_uuid = EXCLUDED.user_uuid, "
        f"document = EXCLUDED.document, updated_at = clock_timestamp(), version = {table}.version + 1"
    )


_FILING_TIME_LOCK: ContextVar[tuple[UUID, aiopg.Cursor] | None] = ContextVar("filing_time_lock", default=None)


class FilingTimeRepository(PostgreSqlSagaExecutionRepository):
    """The repository with the filing-time round trips under a lock (see the module's docstring)."""

    lock_new = SagaExecutionRepository.lock_new  # the lock, taken in a round trip of its own
    lock_for_reply = SagaExecutionRepository.lock_for_reply  # held until the block ends, whatever the reply
    store_at_unlock = SagaExecutionRepository.store_at_unlock  # stores at once
    delete_at_unlock = SagaExecutionRepository.delete_at_unlock  # deletes at once

    @asynccontextmanager
    async def lock(self, uuid: UUID) -> AsyncIterator[None]:
        in_process = SagaExecutionRepository.lock(self, uuid)  # serialised in this process first, as the repository
        async with in_process, self.pool.acquire() as connection, connection.cursor() as cursor:
            await cursor.execute("SELECT pg_advisory_lock(%s)", (advisory_lock_key(uuid),))
            token = _FILING_TIME_LOCK.set((uuid, cursor))
            try:
                yield
            finally:
                _FILING_TIME_LOCK.reset(token)
                await cursor.execute("SELECT pg_advisory_unlock(%s)", (advisory_lock_key(uuid),))

    def _locked(self, uuid: UUID) -> aiopg.Cursor | None:
        held = _FILING_TIME_LOCK.get()
        return held[1] if held is not None and held[0] == uuid else None

    async def _store_document(self, execution: SagaExecution, text: str) -> None:
        if (cursor := self._locked(execution.uuid)) is None:
            return await super()._store_document(execution, text)
        user = None if execution.user is None else str(execution.user)
        await cursor.execute(upsert(self.table_name), (str(execution.uuid), execution.status.raw, user, text))

    async def _load(self, uuid: UUID) -> SagaExecution:
        if (cursor := self._locked(uuid)) is None:
            return await super()._load(uuid)
        await cursor.execute(f"SELECT document::text FROM {self.table_name} WHERE uuid = %s", (str(uuid),))
        if (row := await cursor.fetchone()) is None:
            raise SagaExecutionNotFoundException(f"The {uuid} saga execution does not exist.")
        return SagaExecution.from_raw(json.loads(row[0]))

    async def _delete(self, uuid: UUID) -> None:
        if (cursor := self._locked(uuid)) is None:
            return await super()._delete(uuid)
        await cursor.execute(f"DELETE FROM {self.table_name} WHERE uuid = %s", (str(uuid),))
