"""A broker shared by processes: a PostgreSQL table that minos' ``BrokerPublisher``/``BrokerSubscriber`` write and
read (minos' in-memory broker lives in one process).

Like the database queues of Minos 0.7, a message is deleted when it is taken, so nothing is ever redelivered.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import aiopg
from minos.networks import BrokerMessage, BrokerPublisher, BrokerSubscriber, BrokerSubscriberBuilder

POLL_INTERVAL = 0.02  # seconds between two looks at an empty queue

CREATE_QUEUE = """
    CREATE TABLE IF NOT EXISTS broker_queue (id BIGSERIAL PRIMARY KEY, topic TEXT NOT NULL, data BYTEA NOT NULL)
"""
INSERT = "INSERT INTO broker_queue (topic, data) VALUES (%s, %s)"
TAKE = """
    DELETE FROM broker_queue WHERE id = (
        SELECT id FROM broker_queue WHERE topic = ANY(%s) ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED
    ) RETURNING data
"""


async def enqueue(cursor: aiopg.Cursor, message: BrokerMessage) -> None:
    """Put ``message`` in the queue through ``cursor`` (in whatever transaction it is in)."""
    await cursor.execute(INSERT, (message.topic, message.avro_bytes))


async def take(cursor: aiopg.Cursor, topics: Iterable[str]) -> BrokerMessage | None:
    """Remove and return the oldest message on ``topics``, or None when there is none."""
    await cursor.execute(TAKE, (sorted(topics),))
    row = await cursor.fetchone()
    return None if row is None else BrokerMessage.from_avro_bytes(bytes(row[0]))


class QueueConnections:
    """An ``aiopg`` pool on the queue's database, open while the publisher or subscriber holding it is set up."""

    def __init__(self, dsn: str, maxsize: int):
        self.dsn = dsn
        self.maxsize = maxsize
        self._pool: aiopg.Pool | None = None

    async def open(self) -> None:
        self._pool = await aiopg.create_pool(self.dsn, minsize=0, maxsize=self.maxsize)

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            await self._pool.wait_closed()

    @asynccontextmanager
    async def cursor(self) -> AsyncIterator[aiopg.Cursor]:
        """A cursor in autocommit: each statement commits on its own."""
        assert self._pool is not None, "set up the publisher or subscriber first"
        async with self._pool.acquire() as connection, connection.cursor() as cursor:
            yield cursor


class OnTheQueue:
    """A publisher or subscriber whose ``queue`` connections are open while it is set up."""

    queue: QueueConnections

    async def _setup(self) -> None:
        await super()._setup()
        await self.queue.open()

    async def _destroy(self) -> None:
        await self.queue.close()
        await super()._destroy()


class TablePublisher(OnTheQueue, BrokerPublisher):
    """Publishes by inserting into the queue table, one committed insert per message."""

    def __init__(self, dsn: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.queue = QueueConnections(dsn, maxsize=2)

    async def _send(self, message: BrokerMessage) -> None:
        async with self.queue.cursor() as cursor:
            await enqueue(cursor, message)


class TableSubscriber(OnTheQueue, BrokerSubscriber):
    """Takes messages of its topics from the queue table, polling while it is empty."""

    def __init__(self, topics: Iterable[str], dsn: str, **kwargs: Any):
        super().__init__(topics, **kwargs)
        self.queue = QueueConnections(dsn, maxsize=1)

    async def _receive(self) -> BrokerMessage:
        while True:
            async with self.queue.cursor() as cursor:
                message = await take(cursor, self.topics)
            if message is not None:
                return message
            await asyncio.sleep(POLL_INTERVAL)


class TableSubscriberBuilder(BrokerSubscriberBuilder[TableSubscriber]):
    """Builds :class:`TableSubscriber` instances on the queue database named by the ``dsn`` keyword (minos'
    ``BrokerClientPool`` asks for one per client, on the client's own reply topic)."""

    def build(self) -> TableSubscriber:
        return TableSubscriber(self.kwargs["topics"], self.kwargs["dsn"])
