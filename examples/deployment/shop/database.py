"""SQL on the service's ``default`` database: through minos' pool of ``minos-database-aiopg`` clients, or in the
transaction of an ``@idempotent`` participant handler."""

from __future__ import annotations

from typing import Any

from minos.common import Inject, PoolFactory
from minos.plugins.aiopg import AiopgDatabaseOperation

from minos.saga import participant_cursor


async def query(sql: str, **parameters: Any) -> list[tuple]:
    """Run one statement (each is atomic: the shop's multi-row changes are PL/pgSQL functions) and return its rows."""
    pool = Inject.resolve(PoolFactory).get_pool("database")
    async with pool.acquire() as client:
        await client.execute(AiopgDatabaseOperation(sql, parameters))
        return [row async for row in client.fetch_all()]


async def call(sql: str, *parameters: Any) -> Any:
    """Run a one-value statement in the transaction of the current ``@idempotent`` handler (so the change commits
    with the record of the request, or not at all) and return the value."""
    cursor = participant_cursor()
    await cursor.execute(sql, parameters)
    (value,) = await cursor.fetchone()
    return value
