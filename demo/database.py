"""The participants' PostgreSQL database: created fresh for each run (server from the ``PG*`` variables), dropped
at the end. Stock and payment keep their tables and their ``ParticipantBarrier`` records in it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import uuid4

import aiopg
import psycopg2
from psycopg2.extensions import make_dsn


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
        self.name = f"minos_saga_demo_{uuid4().hex[:12]}"
        self._pool: aiopg.Pool | None = None

    async def create(self) -> None:
        self._admin(f"CREATE DATABASE {self.name}")
        self._pool = await aiopg.create_pool(make_dsn(dbname=self.name, **self.settings), minsize=1, maxsize=4)

    async def drop(self) -> None:
        if self._pool is not None:
            self._pool.close()
            await self._pool.wait_closed()
        self._admin(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")

    def _admin(self, statement: str) -> None:
        connection = psycopg2.connect(dbname="postgres", connect_timeout=3, **self.settings)
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement)
        finally:
            connection.close()

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
