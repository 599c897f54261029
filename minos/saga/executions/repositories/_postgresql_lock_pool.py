"""The connections ``PostgreSqlSagaExecutionRepository`` holds execution locks on."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Optional

import aiopg
from psycopg2.extensions import TRANSACTION_STATUS_IDLE

from ._postgresql_locks import _connect


class _LockConnections:
    """At most ``size`` connections to ``dsn``, reused while they stay usable and handed, first come first served,
    to the tasks waiting for one; a task waits at most ``timeout`` seconds for one, and a connection is opened
    within ``connect_timeout`` (else ``asyncio.TimeoutError``).

    Every lock block takes one and gives it back, so this is on the path of every saga step: unlike ``aiopg.Pool``
    (a timer and a condition for each acquire, a task for each release), taking a free connection schedules
    nothing, a released one goes straight to the first waiter, and one timer bounds all the waits. ``recycle``
    (seconds, negative: never) closes a free connection idle for longer, as ``aiopg.Pool``'s ``pool_recycle``."""

    def __init__(self, dsn: str, size: int, timeout: float, connect_timeout: float, recycle: float = -1):
        self._dsn = dsn
        self._size = size
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._recycle = recycle
        self._free: deque[aiopg.Connection] = deque()
        # Waiters and when their wait ends, oldest first. A waiter's result is a connection, or ``None``: a place
        # was freed, and the waiter opens a connection in it.
        self._waiters: deque[tuple[asyncio.Future[Optional[aiopg.Connection]], float]] = deque()  # noqa: UP045
        self._expiry: asyncio.TimerHandle | None = None  # when the oldest wait may end
        self._places = 0  # connections open, being opened, or owed to a waiter (``None``): at most ``size``
        self._closed = False

    async def acquire(self) -> aiopg.Connection:
        """A free connection, else a new one while fewer than ``size`` exist, else the first one given back."""
        if self._closed:
            raise RuntimeError("The execution lock connections are closed.")
        while self._free:
            connection = self._free.pop()  # the most recently used, so the others may reach ``recycle``
            if self._usable(connection):
                return connection
            self._discard(connection)
        if self._places < self._size:
            self._places += 1
            return await self._open()
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Optional[aiopg.Connection]] = loop.create_future()  # noqa: UP045
        self._waiters.append((waiter, loop.time() + self._timeout))
        if self._expiry is None:
            self._expiry = loop.call_at(self._waiters[0][1], self._expire)
        try:
            handed = await waiter
        except BaseException:
            # Handed a connection (or a place) as this task was cancelled: the next waiter gets it instead.
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._give_back(waiter.result())
            raise
        return handed if handed is not None else await self._open()

    def release(self, connection: aiopg.Connection) -> None:
        """Give back a connection :meth:`acquire` returned. One closed, left inside a transaction, or given back
        after :meth:`close` is closed, and its place freed."""
        if self._closed or connection.closed or connection.raw.get_transaction_status() != TRANSACTION_STATUS_IDLE:
            self._discard(connection)
        else:
            self._give_back(connection)

    def close(self) -> None:
        """Close the free connections and fail the waiting tasks; each taken connection is closed when given back
        (the lock block using it ends as it would have)."""
        self._closed = True
        if self._expiry is not None:
            self._expiry.cancel()
        while self._free:
            self._discard(self._free.pop())
        while self._waiters:
            if not (waiter := self._waiters.popleft()[0]).done():
                waiter.set_exception(RuntimeError("The execution lock connections are closed."))

    async def _open(self) -> aiopg.Connection:
        """A new connection in a place already counted; the place is freed if it cannot be opened."""
        try:
            return await asyncio.wait_for(_connect(self._dsn), self._connect_timeout)
        except BaseException:
            self._give_back(None)
            raise

    def _usable(self, connection: aiopg.Connection) -> bool:
        if connection.closed:
            return False
        return self._recycle < 0 or asyncio.get_running_loop().time() - connection.last_usage <= self._recycle

    def _discard(self, connection: aiopg.Connection) -> None:
        connection.close()
        self._give_back(None)

    def _give_back(self, connection: aiopg.Connection | None) -> None:
        """Hand a connection, or the place of a closed one (``None``), to the first task still waiting; else keep
        the connection free, or free the place."""
        while self._waiters and not self._closed:
            if not (waiter := self._waiters.popleft()[0]).done():
                waiter.set_result(connection)
                return
        if connection is not None and not self._closed:
            self._free.append(connection)
            return
        if connection is not None:
            connection.close()
        self._places -= 1

    def _expire(self) -> None:
        """End the waits that lasted ``timeout``: the oldest ones, as every wait lasts as long. Then wait for the
        end of the next one (those served meanwhile are skipped)."""
        loop = asyncio.get_running_loop()
        self._expiry = None
        while self._waiters:
            waiter, ends = self._waiters[0]
            if not waiter.done():
                if ends > loop.time():
                    self._expiry = loop.call_at(ends, self._expire)
                    return
                waiter.set_exception(asyncio.TimeoutError())
            self._waiters.popleft()
