"""What ``PostgreSqlSagaExecutionRepository`` keeps of an execution lock this task holds, and how driver faults
become ``ConnectionException``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any
from uuid import UUID

import aiopg
import psycopg2
from minos.common import ConnectionException

from ...exceptions import SagaExecutionLockLostException

if TYPE_CHECKING:
    from ._postgresql_lock_pool import _LockConnections
    from .postgresql import PostgreSqlSagaExecutionRepository


@contextmanager
def _connection_faults(repository: PostgreSqlSagaExecutionRepository) -> Iterator[None]:
    """Turn driver faults into ``ConnectionException``: a lost or refused connection, a client-side timeout, and a
    statement the server cancelled (``statement_timeout``, ``lock_timeout``), which aiopg raises as
    ``asyncio.CancelledError`` and which minos' handlers would not survive."""
    try:
        yield
    except (psycopg2.OperationalError, psycopg2.InterfaceError, OSError, asyncio.TimeoutError) as exc:
        raise ConnectionException(
            f"PostgreSQL at {repository.host}:{repository.port} (database {repository.database!r}) failed: {exc!r}"
        ) from exc
    except asyncio.CancelledError as exc:
        if not _server_cancel(exc):
            raise  # this task was cancelled
        raise ConnectionException(
            f"PostgreSQL at {repository.host}:{repository.port} cancelled a statement that ran too long: "
            f"{exc.__context__!r}"
        ) from exc.__context__


def _server_cancel(exc: BaseException) -> bool:
    """Whether aiopg raised this ``CancelledError`` for a statement the server cancelled."""
    return isinstance(exc.__context__, psycopg2.extensions.QueryCanceledError)


async def _connect(dsn: str) -> aiopg.Connection:
    return await aiopg.connect(dsn, enable_hstore=False)  # as the pools' connections


_CLIENT_MARGIN = 5.0
"""Seconds the client waits beyond a server-side bound before giving up itself."""


class _HeldLock:
    """An execution lock this task holds: its advisory-lock ``key``, its connection (where the work under the lock
    runs) and the one cursor its round trips use there, whether the advisory lock may be held on the server
    (``locked``: not yet for a new execution, whose lock is taken with its first write, nor once the server released
    it for an ignored reply, see ``lock_for_reply``) and whether the block ended (``released``), the version the row
    had when locked (``None``: no row), until used the document read with the lock, and the row of a store (or
    ``_DELETE``) kept for the unlock (see ``store_at_unlock``)."""

    def __init__(
        self,
        repository: PostgreSqlSagaExecutionRepository,
        uuid: UUID,
        key: int,
        connection: aiopg.Connection,
        cursor: aiopg.Cursor,
        pool: _LockConnections | None,
    ):
        self.repository = repository
        self.uuid = uuid
        self.key = key
        self.connection = connection
        self.session_cursor = cursor
        self.pool = pool
        self.released = False
        self.locked = False
        self.version: int | None = None
        self.document: str | None = None
        self.pending: tuple[Any, ...] | None = None

    @asynccontextmanager
    async def cursor(self, repository: PostgreSqlSagaExecutionRepository) -> AsyncIterator[aiopg.Cursor]:
        """The cursor on the lock's connection, with the repository's statements prepared; losing it means losing
        the lock."""
        try:
            with _connection_faults(repository):
                await repository._prepare(self.connection, self.session_cursor)
                yield self.session_cursor
        except ConnectionException as exc:
            if not self.connection.closed:
                raise  # a timeout: the lock is still held
            raise SagaExecutionLockLostException(
                f"The session holding the {self.uuid} saga execution lock was lost: {exc!r}"
            ) from exc


_DELETE: tuple[Any, ...] = ()
"""The pending write of a delete kept for the unlock (the rows of stores are never empty)."""


_HELD: ContextVar[tuple[_HeldLock, ...]] = ContextVar("minos_saga_postgresql_held_locks", default=())
