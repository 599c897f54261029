"""The participants' process (stock and payment): ``python -m tests.test_saga.test_faults.participants``.

Each message is taken from the broker, handled through minos' ``BrokerDispatcher``, recorded in the ``ledger``
table and answered, all in one transaction: a participant that is idempotent by the saga's request identity, as
at-least-once delivery needs. A request seen before is answered with the recorded outcome and changes nothing.
A compensation for a saga whose action was never done is recorded as a null compensation; an action arriving after
its saga's compensation is refused.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import os

import aiopg
from minos.networks import BrokerDispatcher, BrokerMessage, BrokerPublisher, BrokerRequest, Response, ResponseException

from .broker import POLL_INTERVAL, enqueue, take
from .faults import BROKER_DATABASE_ENV
from .scenario import ACTION, COMPENSATION, PARTICIPANT_TOPICS, PAYMENT, PAYMENT_LIMIT
from .servers import dsn

CREATE_LEDGER = """
    CREATE TABLE IF NOT EXISTS ledger (
        id BIGSERIAL PRIMARY KEY,
        participant TEXT NOT NULL,
        kind TEXT NOT NULL,
        order_id TEXT NOT NULL,
        saga TEXT NOT NULL,
        request_id TEXT NOT NULL,
        outcome TEXT NOT NULL,
        duplicate BOOL NOT NULL
    )
"""
DONE, REFUSED, REFUSED_HANGING, COMPENSATED, NULL_COMPENSATION = (
    "done",
    "refused",
    "refused-hanging",
    "compensated",
    "null",
)

_CURSOR: contextvars.ContextVar[aiopg.Cursor] = contextvars.ContextVar("participant_cursor")


class _TransactionPublisher(BrokerPublisher):
    """Publishes replies in the transaction of the message being handled."""

    async def _send(self, message: BrokerMessage) -> None:
        await enqueue(_CURSOR.get(), message)


async def handle(request: BrokerRequest) -> Response:
    """Act on, or compensate, the order the request names, once per request identity."""
    cursor = _CURSOR.get()
    participant, kind = PARTICIPANT_TOPICS[request.raw.topic]
    order = await request.content()
    saga, request_id = request.headers["saga"], str(request.raw.identifier)  # the saga's request identity
    await cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{participant}:{saga}",))
    await cursor.execute(
        "SELECT outcome FROM ledger WHERE participant = %s AND request_id = %s AND NOT duplicate",
        (participant, request_id),
    )
    seen = await cursor.fetchone()
    outcome = seen[0] if seen is not None else await _decide(cursor, participant, kind, saga, order)
    await cursor.execute(
        "INSERT INTO ledger (participant, kind, order_id, saga, request_id, outcome, duplicate) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (participant, kind, order["order_id"], saga, request_id, outcome, seen is not None),
    )
    if outcome in (REFUSED, REFUSED_HANGING):
        raise ResponseException(f"{participant} refused the order ({outcome})")
    return Response({"outcome": outcome})


async def _decide(cursor: aiopg.Cursor, participant: str, kind: str, saga: str, order: dict) -> str:
    await cursor.execute(
        "SELECT kind, outcome FROM ledger WHERE participant = %s AND saga = %s AND NOT duplicate", (participant, saga)
    )
    history = set(await cursor.fetchall())
    if kind == COMPENSATION:
        return COMPENSATED if (ACTION, DONE) in history else NULL_COMPENSATION
    if any(previous == COMPENSATION for previous, _ in history):
        return REFUSED_HANGING
    return REFUSED if participant == PAYMENT and order["amount"] > PAYMENT_LIMIT else DONE


async def serve(broker_dsn: str) -> None:
    """Handle the participants' messages one transaction at a time, forever."""
    dispatcher = BrokerDispatcher(dict.fromkeys(PARTICIPANT_TOPICS, handle), publisher=_TransactionPublisher())
    async with aiopg.connect(broker_dsn) as connection, connection.cursor() as cursor:
        _CURSOR.set(cursor)
        while True:
            await cursor.execute("BEGIN")
            message = await take(cursor, PARTICIPANT_TOPICS)
            if message is None:
                await cursor.execute("ROLLBACK")
                await asyncio.sleep(POLL_INTERVAL)
                continue
            await dispatcher.dispatch(message)
            await cursor.execute("COMMIT")


def run() -> None:
    asyncio.run(serve(dsn(json.loads(os.environ[BROKER_DATABASE_ENV]))))


if __name__ == "__main__":
    run()
