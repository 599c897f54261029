"""What the PostgreSQL saga repository and the participant barrier share: a database of theirs reached through
``aiopg`` pools (its settings, DSN and a table of their own), pools whose creation is bounded, and advisory-lock keys.

The driver is imported when first used, so importing ``minos.saga`` does not load it.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import TYPE_CHECKING, Any

from minos.common import ConnectionException

if TYPE_CHECKING:
    import aiopg


def advisory_key(label: bytes) -> int:
    """The signed 64-bit ``pg_advisory_lock`` key of ``label`` (callers namespace their labels, so keys derived for
    different purposes, or by other code from the same values, do not collide)."""
    return int.from_bytes(hashlib.blake2b(label, digest_size=8).digest(), "big", signed=True)


def serialised_schema(label: bytes, statements: str) -> str:
    """``statements`` (``CREATE ... IF NOT EXISTS``) behind a transaction-level advisory lock of their own: setups
    racing on a fresh database (replicas starting together) would otherwise fail on each other's objects."""
    return f"SELECT pg_advisory_xact_lock({advisory_key(label)});\n{statements}"


class PostgreSqlClient:
    """A component keeping a table of its own in a PostgreSQL database: where the database is (``database``,
    ``host``, ``port``, ``user``, ``password``), the ``table_name`` (a plain identifier, as it goes into SQL text) and
    ``connect_timeout`` (seconds), which bounds each connection attempt."""

    def __init__(
        self,
        database: str,
        host: str,
        port: int,
        user: str,
        password: str,
        *args: Any,
        table_name: str,
        connect_timeout: float,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        if not table_name.isidentifier():
            raise ValueError(f"The table name must be a plain identifier. Obtained: {table_name!r}")
        self.database = database
        """The PostgreSQL database name."""
        self.host = host
        """The server's host."""
        self.port = int(port)
        """The server's port."""
        self.user = user
        """The user it connects as."""
        self.password = password
        """The user's password."""
        self.table_name = table_name
        """The table it keeps its rows in (created on setup if missing)."""
        self.connect_timeout = connect_timeout
        """Seconds a connection attempt may take."""

    def _dsn(self, **options: Any) -> str:
        """The connection string of the database, with libpq ``options`` besides the settings."""
        from psycopg2.extensions import make_dsn

        return make_dsn(
            dbname=self.database,
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            connect_timeout=max(1, round(self.connect_timeout)),
            **options,
        )

    async def _create_pool(self, dsn: str, **options: Any) -> aiopg.Pool:
        """An ``aiopg`` pool on ``dsn`` (``options`` go to ``aiopg.create_pool``); an unreachable server raises
        ``ConnectionException`` within ``connect_timeout`` instead of hanging."""
        import aiopg
        import psycopg2

        options = {"enable_hstore": False} | options  # else each new connection costs a round trip looking for it
        try:
            return await asyncio.wait_for(aiopg.create_pool(dsn, **options), self.connect_timeout + 1)
        except (asyncio.TimeoutError, psycopg2.Error, OSError) as exc:
            raise ConnectionException(f"Could not connect to {self._where()}: {exc!r}") from exc

    def _where(self) -> str:
        """The database, as messages name it."""
        return f"PostgreSQL at {self.host}:{self.port} (database {self.database!r})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.database!r}, {self.host!r}, {self.port!r}, {self.user!r})"


async def close_pool(pool: aiopg.Pool | None) -> None:
    """Close ``pool`` (if any) and wait until its connections are closed."""
    if pool is not None:
        pool.close()
        await pool.wait_closed()
