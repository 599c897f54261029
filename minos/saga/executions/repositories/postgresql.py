"""A repository on PostgreSQL, shared safely by every replica of a service."""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from inspect import Parameter, signature
from typing import Any, AsyncContextManager
from uuid import UUID

import aiopg
import psycopg2
from minos.common import Config, ConnectionException

from ..._postgresql import PostgreSqlClient, advisory_key, close_pool
from ...exceptions import SagaExecutionLockLostException, SagaExecutionNotFoundException
from .._saga_document import storable_document, wake_time_text
from ..saga import SagaExecution
from ..status import SagaStatus
from ._postgresql_lock_pool import _LockConnections
from ._postgresql_locks import _CLIENT_MARGIN, _DELETE, _HELD, _connect, _connection_faults, _HeldLock, _server_cancel
from ._postgresql_queries import _SAGA_NAME, _STALLED, _conditions, _Queries
from .abc import SagaExecutionRepository
from .listing import SagaExecutionLister, SagaExecutionPurger, SagaExecutionQuery, SagaExecutionSummary

logger = logging.getLogger(__name__)

_POOL_OPTIONS = ("minsize", "maxsize", "timeout", "pool_recycle")
"""The ``aiopg.create_pool`` options a config may set."""

_KEY_NAMESPACE = b"minos.saga.execution:"


def advisory_lock_key(uuid: UUID) -> int:
    """The signed 64-bit ``pg_advisory_lock`` key of an execution (namespaced, so it does not collide with keys
    other code derives from the same uuid)."""
    return advisory_key(_KEY_NAMESPACE + uuid.bytes)


class PostgreSqlSagaExecutionRepository(
    PostgreSqlClient, SagaExecutionRepository, SagaExecutionLister, SagaExecutionPurger
):
    """Keeps saga executions in a PostgreSQL table, one row per execution, on an ``aiopg`` pool.

    Each row holds the raw document (``jsonb``) plus the columns operators query: ``status``, ``user_uuid``,
    ``created_at``, ``updated_at`` and a ``version`` incremented on each store. Stores are a single statement, so a
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

    Waits are bounded on the server: ``statement_timeout`` (seconds, default 30) for every statement and
    ``lock_wait_timeout`` (default 10) for an execution lock (PostgreSQL's ``lock_timeout``); the client waits a
    little longer, so a statement it gave up on can never commit later. Either bound raises a
    ``ConnectionException`` (never ``asyncio.CancelledError``). Work under :meth:`lock` runs on the connection
    holding the lock, and each store is conditional on the version read when the lock was taken: a process that
    lost its lock raises ``SagaExecutionLockLostException`` and changes nothing.
    """

    def __init__(
        self,
        database: str,
        host: str = "localhost",
        port: int = 5432,
        user: str = "postgres",
        password: str = "",
        *args: Any,
        table_name: str = "saga_execution",
        connect_timeout: float = 5,
        lock_pool_size: int | None = None,
        lock_wait_timeout: float = 10,
        statement_timeout: float = 30,
        **pool_options: Any,
    ):
        super().__init__(
            database, host, port, user, password, *args, table_name=table_name, connect_timeout=connect_timeout
        )
        self.lock_wait_timeout = lock_wait_timeout
        """Seconds waited for an execution's lock before giving up."""
        self.pool_options = {"minsize": 1, "maxsize": 10, "timeout": statement_timeout + _CLIENT_MARGIN} | pool_options
        """Options of the ``aiopg`` pool (``minsize``, ``maxsize``, ``timeout``...)."""
        # The client (the pool's ``timeout``) waits longer than the server may take, so the server always gives up
        # first: a statement the client abandoned can never commit afterwards.
        self._client_timeout = float(self.pool_options["timeout"])
        self.statement_timeout = min(
            statement_timeout, max(self._client_timeout - _CLIENT_MARGIN, self._client_timeout / 2)
        )
        """Seconds the server lets a statement run before cancelling it."""
        self.lock_pool_size = lock_pool_size if lock_pool_size is not None else self.pool_options["maxsize"]
        """How many connections may hold execution locks at once."""
        self._pool: aiopg.Pool | None = None
        self._lock_pool: _LockConnections | None = None
        self._queries = _Queries(table_name)
        self._prepared: weakref.WeakSet[aiopg.Connection] = weakref.WeakSet()  # connections with its statements

    @classmethod
    def _from_config(cls, config: Config, **kwargs: Any) -> PostgreSqlSagaExecutionRepository:
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
        """The connection string of the repository's database, built from its settings."""
        # Server-side bounds: every statement, and every lock wait (advisory locks included).
        return self._dsn(
            options=f"-c statement_timeout={_ms(self.statement_timeout)} -c lock_timeout={_ms(self.lock_wait_timeout)}"
        )

    async def _setup(self) -> None:
        await super()._setup()
        self._pool = await self._create_pool(self.dsn, **self.pool_options)
        try:
            # Opened as locks need them. The wait for a free one is bounded as the wait for the lock itself, and
            # opening one as opening the pool; statements on them pass their own bound (see _acquire_lock).
            self._lock_pool = _LockConnections(
                self.dsn,
                self.lock_pool_size,
                self._lock_client_timeout,
                self.connect_timeout + 1,
                self.pool_options.get("pool_recycle", -1),
            )
            async with self._cursor(prepare=False) as cursor:  # its statements name the table it creates
                await cursor.execute(self._queries.create)
        except BaseException:
            await self._close_pools()
            raise

    async def _destroy(self) -> None:
        await self._close_pools()
        await super()._destroy()

    async def _close_pools(self) -> None:
        pool, lock_pool, self._pool, self._lock_pool = self._pool, self._lock_pool, None, None
        await close_pool(pool)
        if lock_pool is not None:
            lock_pool.close()

    @property
    def pool(self) -> aiopg.Pool:
        """The connection pool; raises ``ConnectionException`` before ``setup()``."""
        if self._pool is None:
            raise ConnectionException(f"{type(self).__name__} is not set up.")
        return self._pool

    @asynccontextmanager
    async def _cursor(self, *, prepare: bool = True) -> AsyncIterator[aiopg.Cursor]:
        with _connection_faults(self):
            async with self.pool.acquire() as connection, connection.cursor() as cursor:
                if prepare:
                    await self._prepare(connection, cursor)
                yield cursor

    async def _prepare(self, connection: aiopg.Connection, cursor: aiopg.Cursor) -> None:
        """Prepare the repository's statements on ``connection`` (a round trip) before its first use of them."""
        if connection in self._prepared:
            return
        try:
            await cursor.execute(self._queries.prepare)
        except BaseException:
            connection.close()  # some may be prepared (they outlive a failed statement): preparing again would fail
            raise
        self._prepared.add(connection)

    async def _store_document(self, execution: SagaExecution, text: str) -> None:
        row = _row(execution, text)
        if (held := self._held(execution.uuid)) is None:
            async with self._cursor() as cursor:
                await cursor.execute(self._queries.store, row)
            return
        await self._flush(held)
        await self._write(held, row)

    async def store_at_unlock(self, execution: SagaExecution) -> None:
        """Under this task's lock on the execution, keep the store for the unlock: one round trip then writes it
        (conditional on the version, like every store under the lock) and releases the lock, whose block raises
        ``SagaExecutionLockLostException`` if it was lost. Loads, stores and deletes under the lock send it first.
        Without the lock, :meth:`store`."""
        if (held := self._held(execution.uuid)) is None:
            await self.store(execution)
            return
        text = storable_document(execution)  # an execution that cannot be stored raises here, not at the unlock
        await self._flush(held)
        held.pending = _row(execution, text)

    async def delete_at_unlock(self, execution: SagaExecution) -> None:
        """Under this task's lock on the execution, keep the delete for the unlock, as :meth:`store_at_unlock`
        keeps a store. Without the lock, :meth:`delete`."""
        if (held := self._held(execution.uuid)) is None:
            await self.delete(execution)
            return
        await self._flush(held)
        held.pending = _DELETE

    async def _write(self, held: _HeldLock, row: tuple[Any, ...], *, unlock: bool = False) -> None:
        """Insert or update the row under ``held``, conditional on the version read with the lock; with ``unlock``,
        in the round trip that releases the lock."""
        statement, parameters = (
            (self._queries.insert, row) if held.version is None else (self._queries.update, (*row, held.version))
        )
        held.version = await self._fenced(held, statement, parameters, unlock=unlock, done="stored")
        held.document = None

    async def _remove(self, held: _HeldLock, *, unlock: bool = False) -> None:
        """Delete the row under ``held``, conditional on the version read with the lock; with ``unlock``, in the
        round trip that releases the lock."""
        if held.version is None:  # never stored
            if unlock:
                await self._unlock(held)
            return
        parameters = (str(held.uuid), held.version)
        await self._fenced(held, self._queries.delete_version, parameters, unlock=unlock, done="deleted")
        held.version = held.document = None

    async def _fenced(
        self, held: _HeldLock, statement: str, parameters: tuple[Any, ...], *, unlock: bool, done: str
    ) -> int:
        """Run a store or delete conditional on the version read under ``held`` (with ``unlock``, in the round trip
        that releases a lock taken); returns the version it returned, or raises ``SagaExecutionLockLostException``
        when the row changed since the lock was taken (nothing was ``done``). A lock not held yet (a new
        execution's, see :meth:`lock_new`, or one released as the row was read, see :meth:`lock_for_reply`) is
        taken in that round trip."""
        if not held.locked:
            if unlock:  # written and done at once: the lock needs to last only until the write commits
                statement, parameters = self._queries.lock_until_commit + statement, (held.key, *parameters)
            else:
                held.locked = True  # from now on it may hold the lock, which the release must then end
                statement, parameters = self._queries.lock_before + statement, (held.key, *parameters)
        elif unlock:
            statement, parameters = self._queries.unlock_before + statement, (held.key, held.key, *parameters)
        async with held.cursor(self) as cursor:
            await cursor.execute(statement, parameters)
            row = await cursor.fetchone()
        if row is None:
            raise SagaExecutionLockLostException(
                f"The {held.uuid} saga execution changed since this process locked it: it was not {done}."
            )
        return row[0]

    async def _flush(self, held: _HeldLock, *, unlock: bool = False) -> bool:
        """Send the store or delete kept for the unlock (see :meth:`store_at_unlock`), if any: before other work
        under the lock, or with the unlock; returns whether there was one."""
        if held.pending is None:
            return False
        row, held.pending = held.pending, None
        if row is _DELETE:
            await self._remove(held, unlock=unlock)
        else:
            await self._write(held, row, unlock=unlock)
        return True

    async def _load(self, uuid: UUID) -> SagaExecution:
        held = self._held(uuid)
        if held is not None:
            if not held.locked and held.document is None:
                # A new execution's lock, taken when first needed (see lock_new), or one released as the row was
                # read (see lock_for_reply) and already loaded: taken again.
                await self._lock_and_read(held)
            await self._flush(held)  # a write kept for the unlock changes what there is to read
        document: str | None
        if held is not None and held.document is not None:
            document = held.document  # read with the lock, in the same round trip
            if not held.locked:
                held.document = None  # read as the lock was released: loaded once
        else:
            async with self._cursor() if held is None else held.cursor(self) as cursor:
                await cursor.execute(self._queries.load, (str(uuid),))
                row = await cursor.fetchone()
            document = None if row is None else row[0]
        if document is None:
            raise SagaExecutionNotFoundException(f"The {uuid} saga execution does not exist.")
        return SagaExecution.from_raw(json.loads(document))

    async def _delete(self, uuid: UUID) -> None:
        if (held := self._held(uuid)) is None:
            async with self._cursor() as cursor:
                await cursor.execute(self._queries.delete, (str(uuid),))
            return
        await self._flush(held)
        await self._remove(held)

    def _held(self, uuid: UUID) -> _HeldLock | None:
        """The lock this task holds on ``uuid`` through this repository, if any: the innermost one, as a task started
        under another task's lock inherits that task's locks with its context (and may take the lock itself once they
        are released, which makes them no longer held)."""
        for held in reversed(_HELD.get()):
            if held.repository is self and held.uuid == uuid and not held.released:
                return held
        return None

    async def list_unsent(self) -> list[UUID]:
        """The uuids of stored executions with outbox messages never confirmed published, for recovery."""
        async with self._cursor() as cursor:
            await cursor.execute(self._queries.unsent)
            rows = await cursor.fetchall()
        return [UUID(str(uuid)) for (uuid,) in rows]

    async def list_due(self, now: datetime) -> list[UUID]:
        """The uuids of paused executions whose wait expired or deadline passed at ``now``, for recovery."""
        async with self._cursor() as cursor:
            await cursor.execute(self._queries.due, (wake_time_text(now),))
            rows = await cursor.fetchall()
        return [UUID(str(uuid)) for (uuid,) in rows]

    @asynccontextmanager
    async def lock(self, uuid: UUID) -> AsyncIterator[None]:
        """Hold the execution's advisory lock, shared by every process on this database, until the block ends.

        Work from this process is first serialised in memory (so waiters do not each hold a connection); then a
        session advisory lock is taken, and the row read, in one round trip on a pooled connection, which the
        block's loads, stores and deletes of that execution use; a store kept for the unlock (see
        :meth:`store_at_unlock`) is written in the round trip that releases the lock. A lock taken inside another
        one (a saga started from a step) gets a connection of its own outside the pool, so it never waits for the
        pool its outer saga holds. If this task is cancelled or the process dies, the connection is closed and the
        server releases the lock.
        """
        async with self._locked(uuid, new=False):
            yield

    def lock_for_reply(self, uuid: UUID, request_id: UUID | None) -> AsyncContextManager[None]:
        """:meth:`lock`, released in the round trip that takes it and reads the row when the stored execution surely
        ignores a reply to ``request_id``: it awaits another request, waits for no reservation and holds no such
        message in its outbox (so a duplicated reply costs one round trip, not two). The block's first load then
        returns what was read; a later one takes the lock again, and so does a store or delete, in its own round
        trip, conditional on the version read (``SagaExecutionLockLostException`` if the row changed)."""
        return self._locked(uuid, new=False, reply=request_id)

    def lock_new(self, uuid: UUID) -> AsyncContextManager[None]:
        """:meth:`lock` for an execution this process has just created: the advisory lock is taken in the round
        trip of the block's first write (before that no other process can know the execution), and not at all when
        the block writes nothing. A write finds no row to update, so an execution that was stored already is not
        overwritten: its store raises ``SagaExecutionLockLostException``."""
        return self._locked(uuid, new=True)

    @asynccontextmanager
    async def _locked(self, uuid: UUID, *, new: bool, reply: UUID | None = None) -> AsyncIterator[None]:
        async with super().lock(uuid):
            held = await self._acquire_lock(uuid, new=new, reply=reply)
            token = _HELD.set((*_HELD.get(), held))
            try:
                yield
            finally:
                _HELD.reset(token)
                held.released = True
                await self._release_lock(held)

    async def _acquire_lock(self, uuid: UUID, *, new: bool, reply: UUID | None) -> _HeldLock:
        if self._lock_pool is None:
            raise ConnectionException(f"{type(self).__name__} is not set up.")
        pool = None if _HELD.get() else self._lock_pool
        with _connection_faults(self):
            connection = await self._lock_connection(pool)
            try:
                # One cursor for the lock's round trips; the client waits for each statement longer than the server
                # may run it (the lock's own statement passes the lock wait's bound).
                cursor = await connection.cursor(timeout=self._client_timeout)
                held = _HeldLock(self, uuid, advisory_lock_key(uuid), connection, cursor, pool)
                if not new:
                    await self._lock_and_read(held, reply=reply)
            except BaseException:
                connection.close()  # it may hold the lock if the server granted it as we were cancelled
                if pool is not None:
                    pool.release(connection)
                raise
        return held

    async def _lock_and_read(self, held: _HeldLock, *, reply: UUID | None = None) -> None:
        """Take the advisory lock and then read the row, in one round trip on the lock's connection; with the
        ``reply`` the block applies, release it in that round trip if the execution ignores it (see
        :meth:`lock_for_reply`). Driver faults raise ``ConnectionException``, whether the lock is taken up front or
        at a new execution's first read."""
        held.locked = True
        cursor = held.session_cursor
        statement = self._queries.lock_and_load
        parameters: tuple[Any, ...] = (held.key, str(held.uuid))
        if reply is not None:
            statement = self._queries.lock_and_load_for_reply
            parameters = (*parameters, str(reply), held.key)  # the lock is released by key
        with _connection_faults(self):
            await self._prepare(held.connection, cursor)
            await cursor.execute(statement, parameters, timeout=self._lock_client_timeout)
            row = await cursor.fetchone()
        if row is None:
            held.document, held.version = None, None
            return
        held.document, held.version = row[0], row[1]
        if reply is not None:
            held.locked = not row[2]  # released by the server: the execution ignores the reply

    @property
    def _lock_client_timeout(self) -> float:
        """Seconds the client waits for an execution lock (and for a connection to take it on): longer than the
        server waits for the lock, so the server gives up first."""
        return self.lock_wait_timeout + _CLIENT_MARGIN

    async def _lock_connection(self, pool: _LockConnections | None) -> aiopg.Connection:
        timeout = self._lock_client_timeout
        try:
            if pool is None:
                return await asyncio.wait_for(_connect(self.dsn), timeout)
            # Bounded by the lock pool's own timeout (that same bound, see _setup): no task per wait to bound it.
            return await pool.acquire()
        except asyncio.TimeoutError:
            raise ConnectionException(
                f"No connection to take a saga execution lock became free within {timeout} s "
                f"(lock_pool_size={self.lock_pool_size})."
            ) from None

    async def _release_lock(self, held: _HeldLock) -> None:
        connection = held.connection
        try:
            if not await self._flush(held, unlock=True):
                await self._unlock(held)
        except BaseException:
            connection.close()  # never hand a connection that may still hold the lock back to the pool
            raise
        finally:
            held.session_cursor.close()
            if held.pool is not None:
                held.pool.release(connection)
            else:
                connection.close()

    async def _unlock(self, held: _HeldLock) -> None:
        connection = held.connection
        if not held.locked:
            return  # a new execution's lock, never taken: nothing was written
        if connection.closed:
            return  # the server released the lock with the session
        try:
            await held.session_cursor.execute(self._queries.unlock, (held.key,))
        except (psycopg2.Error, OSError, asyncio.CancelledError) as exc:
            # The session is gone (or unusable): closing it makes sure the server releases the lock.
            connection.close()
            if isinstance(exc, asyncio.CancelledError) and not _server_cancel(exc):
                raise
            logger.warning("Could not release the saga execution lock of %s cleanly: %r", held.uuid, exc)

    async def _list(self, query: SagaExecutionQuery) -> list[SagaExecutionSummary]:
        """Read from the columns and a few document paths, without loading whole documents."""
        where, parameters = _conditions(query)
        statement = (
            f"SELECT uuid, status, user_uuid, updated_at, {_SAGA_NAME}, "
            "jsonb_array_length(document -> 'executed_steps'), "
            f"jsonb_array_length(document #> '{{definition,steps}}'), created_at, {_STALLED} "
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
                stalled,
            )
            for uuid, status, user, updated_at, name, step, steps, created_at, stalled in rows
        ]

    async def _purge(self, status: SagaStatus, updated_before: datetime) -> int:
        async with self._cursor() as cursor:
            await cursor.execute(
                f"DELETE FROM {self.table_name} WHERE status = %s AND updated_at < %s", (status.raw, updated_before)
            )
            return cursor.rowcount


def _row(execution: SagaExecution, text: str) -> tuple[Any, ...]:
    """The parameters of an insert, update or upsert of ``execution``: status, user, document and uuid."""
    user = execution.user
    return execution.status.raw, None if user is None else str(user), text, str(execution.uuid)


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))
