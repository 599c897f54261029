"""A repository on PostgreSQL, shared safely by every replica of a service."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from inspect import Parameter, signature
from typing import Any
from uuid import UUID

import aiopg
import psycopg2
from minos.common import Config, ConnectionException
from psycopg2.extensions import make_dsn

from ...exceptions import SagaExecutionNotFoundException
from ..saga import SagaExecution
from ..status import SagaStatus
from .abc import SagaExecutionRepository
from .listing import SagaExecutionLister, SagaExecutionPurger, SagaExecutionQuery, SagaExecutionSummary

logger = logging.getLogger(__name__)

_POOL_OPTIONS = ("minsize", "maxsize", "timeout", "pool_recycle")
"""The ``aiopg.create_pool`` options a config may set."""

_KEY_NAMESPACE = b"minos.saga.execution:"
_SAGA_NAME = "(document #>> '{definition,steps,0,on_execute,callback}')"
_SCHEMA_LOCK_KEY = int.from_bytes(hashlib.blake2b(b"minos.saga.schema", digest_size=8).digest(), "big", signed=True)


def advisory_lock_key(uuid: UUID) -> int:
    """The signed 64-bit ``pg_advisory_lock`` key of an execution (namespaced, so it does not collide with keys
    other code derives from the same uuid)."""
    return int.from_bytes(hashlib.blake2b(_KEY_NAMESPACE + uuid.bytes, digest_size=8).digest(), "big", signed=True)


class PostgreSqlSagaExecutionRepository(SagaExecutionRepository, SagaExecutionLister, SagaExecutionPurger):
    """Keeps saga executions in a PostgreSQL table, one row per execution, on an ``aiopg`` pool.

    Each row holds the raw document (``jsonb``) plus the columns operators query: ``status``, ``user_uuid``,
    ``created_at``, ``updated_at`` and a ``version`` incremented on each store. Stores are a single upsert, so a
    failed store leaves the previous row intact. :meth:`lock` takes a PostgreSQL session advisory lock per
    execution, which makes a reply raced by several replicas (or delivered twice) run its step once.

    Select it from a Minos config alone: the ``saga`` database entry names it under ``repository``::

        databases:
          saga:
            repository: minos.saga.PostgreSqlSagaExecutionRepository
            database: order_db
            host: localhost
            port: 5432
            user: minos
            password: min0s

    ``SagaManager.from_config(config)`` then stores its executions here. Without the ``repository`` key the
    manager keeps 0.7.0's ``DatabaseSagaExecutionRepository``.

    ``pool_options`` go to ``aiopg.create_pool`` (``minsize``, ``maxsize``, ``timeout``...); ``connect_timeout``
    (seconds, default 5) bounds each connection attempt, so an unreachable server raises
    ``minos.common.ConnectionException`` instead of hanging. ``lock_pool_size`` bounds the connections that hold
    execution locks (a separate pool, so work done under a lock always finds a connection).
    """

    def __init__(
        self,
        database: str,
        host: str = "localhost",
        port: int = 5432,
        user: str = "postgres",
        password: str = "",
        *args,
        table_name: str = "saga_execution",
        connect_timeout: float = 5,
        lock_pool_size: int | None = None,
        lock_wait_timeout: float = 24 * 3600,
        **pool_options,
    ):
        super().__init__(*args)
        if not table_name.isidentifier():
            raise ValueError(f"The table name must be a plain identifier. Obtained: {table_name!r}")
        self.database = database
        self.host = host
        self.port = int(port)
        self.user = user
        self.password = password
        self.table_name = table_name
        self.connect_timeout = connect_timeout
        self.lock_wait_timeout = lock_wait_timeout
        self.pool_options = {"minsize": 1, "maxsize": 10, "timeout": 60.0} | pool_options
        self.lock_pool_size = lock_pool_size if lock_pool_size is not None else self.pool_options["maxsize"]
        self._pool: aiopg.Pool | None = None
        self._lock_pool: aiopg.Pool | None = None
        self._queries = _Queries(table_name)

    @classmethod
    def _from_config(cls, config: Config, **kwargs) -> PostgreSqlSagaExecutionRepository:
        """Every option of the constructor (``table_name``, timeouts, ``lock_pool_size``, the pool's ``minsize``,
        ``maxsize`` and ``timeout``...) read from the ``saga`` database entry; its other keys (``client``,
        ``repository``...) belong to others."""
        database = dict(config.get_database_by_name("saga"))
        keys = {
            *_POOL_OPTIONS,
            *(
                name
                for name, parameter in signature(cls).parameters.items()
                if parameter.kind in (Parameter.POSITIONAL_OR_KEYWORD, Parameter.KEYWORD_ONLY)
            ),
        }
        options = {key: value for key, value in database.items() if key in keys}
        return cls(**(options | kwargs))

    @property
    def dsn(self) -> str:
        return make_dsn(
            dbname=self.database,
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            connect_timeout=max(1, round(self.connect_timeout)),
        )

    async def _setup(self) -> None:
        await super()._setup()
        self._pool = await self._create_pool(**self.pool_options)
        try:
            lock_options = self.pool_options | {"minsize": 0, "maxsize": self.lock_pool_size}
            self._lock_pool = await self._create_pool(**lock_options)
            async with self._cursor() as cursor:
                await cursor.execute(self._queries.create)
        except BaseException:
            await self._close_pools()
            raise

    async def _destroy(self) -> None:
        await self._close_pools()
        await super()._destroy()

    async def _create_pool(self, **options) -> aiopg.Pool:
        try:
            return await asyncio.wait_for(aiopg.create_pool(self.dsn, **options), self.connect_timeout + 1)
        except (asyncio.TimeoutError, psycopg2.Error, OSError) as exc:
            raise ConnectionException(
                f"Could not connect to PostgreSQL at {self.host}:{self.port} (database {self.database!r}): {exc!r}"
            ) from exc

    async def _close_pools(self) -> None:
        pools, self._pool, self._lock_pool = [self._pool, self._lock_pool], None, None
        for pool in pools:
            if pool is not None:
                pool.close()
                await pool.wait_closed()

    @property
    def pool(self) -> aiopg.Pool:
        if self._pool is None:
            raise ConnectionException(f"{type(self).__name__} is not set up.")
        return self._pool

    @asynccontextmanager
    async def _cursor(self, pool: aiopg.Pool | None = None, **kwargs) -> AsyncIterator[aiopg.Cursor]:
        with _connection_faults(self):
            async with (pool or self.pool).acquire() as connection, connection.cursor(**kwargs) as cursor:
                yield cursor

    async def _store_document(self, execution: SagaExecution, raw: dict[str, Any], text: str) -> None:
        user = raw.get("user")
        async with self._cursor() as cursor:
            await cursor.execute(
                self._queries.store, (str(execution.uuid), raw["status"], None if user is None else str(user), text)
            )

    async def _load(self, uuid: UUID) -> SagaExecution:
        async with self._cursor() as cursor:
            await cursor.execute(self._queries.load, (str(uuid),))
            row = await cursor.fetchone()
        if row is None:
            raise SagaExecutionNotFoundException(f"The {uuid} saga execution does not exist.")
        return SagaExecution.from_raw(json.loads(row[0]))

    async def _delete(self, uuid: UUID) -> None:
        async with self._cursor() as cursor:
            await cursor.execute(self._queries.delete, (str(uuid),))

    async def list_unsent(self) -> list[UUID]:
        async with self._cursor() as cursor:
            await cursor.execute(self._queries.unsent)
            rows = await cursor.fetchall()
        return [UUID(str(uuid)) for (uuid,) in rows]

    @asynccontextmanager
    async def lock(self, uuid: UUID) -> AsyncIterator[None]:
        """Hold the execution's advisory lock, shared by every process on this database, until the block ends.

        Work from this process is first serialised in memory (so waiters do not each hold a connection); then a
        session advisory lock is taken on a dedicated pooled connection and released in ``finally``. If this task
        is cancelled or the process dies, the connection is closed and the server releases the lock.
        """
        async with super().lock(uuid):
            key = advisory_lock_key(uuid)
            connection = await self._acquire_lock(key)
            try:
                yield
            finally:
                await self._release_lock(connection, key)

    async def _acquire_lock(self, key: int) -> aiopg.Connection:
        if self._lock_pool is None:
            raise ConnectionException(f"{type(self).__name__} is not set up.")
        pool = self._lock_pool
        with _connection_faults(self):
            connection = await pool.acquire()
            try:
                async with connection.cursor(timeout=self.lock_wait_timeout) as cursor:
                    await cursor.execute("SELECT pg_advisory_lock(%s)", (key,))
            except BaseException:
                connection.close()  # it may hold the lock if the server granted it as we were cancelled
                pool.release(connection)
                raise
        return connection

    async def _release_lock(self, connection: aiopg.Connection, key: int) -> None:
        pool = self._lock_pool
        try:
            if not connection.closed:  # else the server released the lock with the session
                async with connection.cursor() as cursor:
                    await cursor.execute("SELECT pg_advisory_unlock(%s)", (key,))
        except (psycopg2.Error, OSError) as exc:
            # The session is gone (or unusable): closing it makes sure the server releases the lock.
            connection.close()
            logger.warning("Could not release the saga execution lock %s cleanly: %r", key, exc)
        except BaseException:
            connection.close()  # never hand a connection that may still hold the lock back to the pool
            raise
        finally:
            if pool is not None:
                pool.release(connection)

    async def _list(self, query: SagaExecutionQuery) -> list[SagaExecutionSummary]:
        """Read from the columns and a few document paths, without loading whole documents."""
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
        statement = (
            f"SELECT uuid, status, user_uuid, updated_at, {_SAGA_NAME}, "
            "jsonb_array_length(document -> 'executed_steps'), "
            "jsonb_array_length(document #> '{definition,steps}'), created_at "
            f"FROM {self.table_name} {where}ORDER BY updated_at, uuid LIMIT %s"
        )
        async with self._cursor() as cursor:
            await cursor.execute(statement, (*parameters, query.limit))
            rows = await cursor.fetchall()
        return [
            SagaExecutionSummary(
                UUID(str(uuid)),
                SagaStatus.from_raw(status),
                None if user is None else UUID(str(user)),
                updated_at,
                name,
                step or 0,
                steps or 0,
                created_at,
            )
            for uuid, status, user, updated_at, name, step, steps, created_at in rows
        ]

    async def _purge(self, status: SagaStatus, updated_before: datetime) -> int:
        async with self._cursor() as cursor:
            await cursor.execute(
                f"DELETE FROM {self.table_name} WHERE status = %s AND updated_at < %s", (status.raw, updated_before)
            )
            return cursor.rowcount

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.database!r}, {self.host!r}, {self.port!r}, {self.user!r})"


@contextmanager
def _connection_faults(repository: PostgreSqlSagaExecutionRepository) -> Iterator[None]:
    try:
        yield
    except (psycopg2.OperationalError, psycopg2.InterfaceError, OSError) as exc:
        raise ConnectionException(
            f"PostgreSQL at {repository.host}:{repository.port} (database {repository.database!r}) failed: {exc!r}"
        ) from exc


# Rows whose outbox holds a message never confirmed published (see ``SagaExecution.outbox``).
_UNSENT = """document -> 'orchestrator' -> 'outbox' @> '[{"sent_at": null}]'"""


class _Queries:
    def __init__(self, table: str):
        self.create = f"""
            SELECT pg_advisory_xact_lock({_SCHEMA_LOCK_KEY});
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
        """
        self.store = f"""
            INSERT INTO {table} (uuid, status, user_uuid, document) VALUES (%s, %s, %s, %s::jsonb)
            ON CONFLICT (uuid) DO UPDATE SET
                status = EXCLUDED.status,
                user_uuid = EXCLUDED.user_uuid,
                document = EXCLUDED.document,
                updated_at = clock_timestamp(),
                version = {table}.version + 1
        """
        self.load = f"SELECT document::text FROM {table} WHERE uuid = %s"
        self.delete = f"DELETE FROM {table} WHERE uuid = %s"
        self.unsent = f"SELECT uuid FROM {table} WHERE {_UNSENT}"
