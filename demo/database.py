"""The participants' PostgreSQL database: created fresh for each run (server from the ``PG*`` variables), dropped
at the end. Stock and payment keep their tables and their ``ParticipantBarrier`` records in it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from typing import Any

import aiopg
from psycopg2.extensions import make_dsn

from minos.saga.testing import throwaway_database


def server_settings() -> dict[str, Any]:
    """``host``/``port``/``user``/``password`` of the server the ``PG*`` variables name (libpq's defaults else)."""
    return {
        "host": os.environ.get("PGHOST", "localhost"),
        "port": int(os.environ.get("PGPORT", "5432")),
        "user": os.environ.get("PGUSER", "postgres"),
        "password": os.environ.get("PGPASSWORD", "postgres"),
    }


class ParticipantsDatabase:
    """A throwaway database and an ``aiopg`` pool on it, for the participants' reads outside saga requests."""

    def __init__(self) -> None:
        self.settings = server_settings()
        self.name = ""  # set by create()
        self._database = ExitStack()
        self._pool: aiopg.Pool | None = None

    async def create(self) -> None:
        self.name = self._database.enter_context(throwaway_database(self.settings, "minos_saga_demo"))["database"]
        self._pool = await aiopg.create_pool(make_dsn(dbname=self.name, **self.settings), minsize=1, maxsize=4)

    async def drop(self) -> None:
        if self._pool is not None:
            self._pool.close()
            await self._pool.wait_closed()
        self._database.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiopg.Cursor]:
        """A cursor in a transaction that commits when the block ends (rolls back if it raises)."""
        assert self._pool is not None, "create() the database first"
        async with self._pool.acquire() as connection, connection.cursor() as cursor:
            await cursor.execute("BEGIN")
            try:
                yield cursor
            except BaseException:
                await cursor.execute("ROLLBACK")
                raise
            await cursor.execute("COMMIT")

    async def value(self, query: str, *parameters: Any) -> Any:
        """The first column of the first row of ``query`` (``None`` without rows)."""
        async with self.transaction() as cursor:
            await cursor.execute(query, parameters)
            row = await cursor.fetchone()
        return None if row is None else row[0]
