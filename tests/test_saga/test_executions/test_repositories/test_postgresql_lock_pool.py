"""The connections execution locks are held on, against a real server (the session's ``postgres`` fixture)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from psycopg2.extensions import make_dsn

from minos.saga.executions.repositories._postgresql_lock_pool import _LockConnections

Pool = Callable[..., Awaitable[_LockConnections]]


@pytest.fixture
async def pool(postgres_database: dict[str, Any]) -> AsyncIterator[Pool]:
    """Builds pools on the module's database (``size``, ``timeout``, ``recycle``), closed at the end."""
    settings = dict(postgres_database)
    dsn = make_dsn(dbname=settings.pop("database"), **settings)
    built: list[_LockConnections] = []

    async def build(size: int = 1, timeout: float = 10, recycle: float = -1) -> _LockConnections:
        built.append(_LockConnections(dsn, size, timeout, 10, recycle))
        return built[-1]

    yield build
    for connections in built:
        connections.close()


async def waiting(connections: _LockConnections) -> asyncio.Task:
    """A task that waits for a connection (started, so queued behind those before it)."""
    task = asyncio.ensure_future(connections.acquire())
    await asyncio.sleep(0)
    assert not task.done()
    return task


async def test_a_released_connection_is_reused(pool: Pool):
    connections = await pool()
    first = await connections.acquire()
    connections.release(first)
    assert await connections.acquire() is first
    connections.release(first)


async def test_at_most_size_are_open_and_a_released_one_goes_to_the_first_waiter(pool: Pool):
    connections = await pool(size=2)
    first, second = await connections.acquire(), await connections.acquire()
    assert first is not second
    earlier, later = await waiting(connections), await waiting(connections)
    connections.release(second)
    assert await earlier is second
    assert not later.done()
    connections.release(first)
    assert await later is first
    connections.release(first)
    connections.release(second)


async def test_a_wait_longer_than_the_timeout_raises_timeout_error(pool: Pool):
    connections = await pool(timeout=0)
    taken = await connections.acquire()
    with pytest.raises(asyncio.TimeoutError):
        await connections.acquire()
    connections.release(taken)


async def test_a_connection_handed_to_a_waiter_cancelled_meanwhile_goes_to_the_next_one(pool: Pool):
    connections = await pool()
    taken = await connections.acquire()
    cancelled, next_one = await waiting(connections), await waiting(connections)
    connections.release(taken)  # handed to the first waiter, which is cancelled before it runs
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert await next_one is taken
    connections.release(taken)


async def test_a_closed_connection_given_back_frees_its_place_for_a_new_one(pool: Pool):
    connections = await pool()
    taken = await connections.acquire()
    waiter = await waiting(connections)
    taken.close()
    connections.release(taken)
    opened = await waiter
    assert opened is not taken and not opened.closed
    connections.release(opened)


async def test_a_connection_given_back_inside_a_transaction_is_closed(pool: Pool):
    connections = await pool()
    taken = await connections.acquire()
    async with taken.cursor() as cursor:
        await cursor.execute("BEGIN")
    connections.release(taken)
    assert taken.closed
    opened = await connections.acquire()
    assert not opened.closed
    connections.release(opened)


async def test_a_free_connection_idle_longer_than_recycle_is_replaced(pool: Pool):
    connections = await pool(recycle=0)
    first = await connections.acquire()
    connections.release(first)
    second = await connections.acquire()
    assert second is not first and first.closed
    connections.release(second)


async def test_close_closes_the_free_connections_now_and_the_taken_ones_when_given_back(pool: Pool):
    connections = await pool(size=2)
    free, taken = await connections.acquire(), await connections.acquire()
    connections.release(free)
    connections.close()
    assert free.closed and not taken.closed
    connections.release(taken)
    assert taken.closed
    with pytest.raises(RuntimeError):
        await connections.acquire()


async def test_close_fails_the_waiting_tasks(pool: Pool):
    connections = await pool()
    taken = await connections.acquire()
    waiter = await waiting(connections)
    connections.close()
    with pytest.raises(RuntimeError):
        await waiter
    connections.release(taken)
