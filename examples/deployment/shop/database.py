"""SQL on the service's ``default`` database through minos' pool of ``minos-database-aiopg`` clients."""

from __future__ import annotations

from typing import Any

from minos.common import Inject, PoolFactory
from minos.plugins.aiopg import AiopgDatabaseOperation


async def query(sql: str, **parameters: Any) -> list[tuple]:
    """Run one statement (each is atomic: the shop's multi-row changes are PL/pgSQL functions) and return its rows."""
    pool = Inject.resolve(PoolFactory).get_pool("database")
    async with pool.acquire() as client:
        await client.execute(AiopgDatabaseOperation(sql, parameters))
        return [row async for row in client.fetch_all()]
