"""The table behind ``ParticipantBarrier``: its statements, how a reply is kept in a row, and the reads and writes of
its rows."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Any
from uuid import UUID

from minos.networks import BrokerMessageV1Payload, Response

from ._participant_replies import ParticipantOutcome, ParticipantRecord, ParticipantReply
from ._postgresql import serialised_schema

if TYPE_CHECKING:
    import aiopg


class Kind(str, Enum):
    """Which half of an operation a row records."""

    ACTION = "action"
    COMPENSATION = "compensation"


PENDING = "pending"  # only ever visible inside the transaction that runs the handler


def encode_reply(status: int, content: Any, headers: dict[str, str]) -> bytes:
    """A reply as bytes, through the broker's own payload serialisation: what it cannot keep, the broker could not
    have sent either."""
    return BrokerMessageV1Payload(content=content, status=status, headers=headers).avro_bytes


def decode_reply(raw: bytes) -> tuple[int, Any, dict[str, str]]:
    """``(status, content, headers)`` of a reply kept by :func:`encode_reply`."""
    payload = BrokerMessageV1Payload.from_avro_bytes(bytes(raw))
    return int(payload.status), payload.content, dict(payload.headers)


class BarrierQueries:
    """The statements on one barrier table (``table`` is checked to be a plain identifier by the caller)."""

    def __init__(self, table: str):
        self.create = serialised_schema(
            b"minos.saga.participant_barrier.schema",
            f"""
            CREATE TABLE IF NOT EXISTS {table} (
                saga UUID NOT NULL,
                operation TEXT NOT NULL,
                kind TEXT NOT NULL,
                request UUID NOT NULL,
                outcome TEXT NOT NULL,
                reply BYTEA NULL,
                created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
                PRIMARY KEY (saga, operation, kind)
            );
            """,
        )
        # A conflicting insert waits for the transaction holding the row to end: this is what makes a concurrent
        # duplicate wait for the first delivery and then read its reply.
        self.claim = (
            f"INSERT INTO {table} (saga, operation, kind, request, outcome) VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT DO NOTHING RETURNING true"
        )
        self.settle = f"UPDATE {table} SET outcome = %s, reply = %s WHERE saga = %s AND operation = %s AND kind = %s"
        self.read = f"SELECT request, outcome, reply FROM {table} WHERE saga = %s AND operation = %s AND kind = %s"


class BarrierRows:
    """The part of ``ParticipantBarrier`` that reads and writes the rows of its table, in a transaction's cursor."""

    _queries: BarrierQueries  # set by ``ParticipantBarrier.__init__``

    async def _action_done(self, cursor: aiopg.Cursor, saga: UUID, operation: str) -> bool:
        action = await self._read(cursor, saga, operation, Kind.ACTION)
        return action is not None and action.outcome is ParticipantOutcome.DONE

    async def _claim(
        self, cursor: aiopg.Cursor, saga: UUID, operation: str, kind: Kind, identifier: UUID, outcome: str
    ) -> bool:
        value = outcome.value if isinstance(outcome, ParticipantOutcome) else outcome
        await cursor.execute(self._queries.claim, (str(saga), operation, kind.value, str(identifier), value))
        return await cursor.fetchone() is not None

    async def _read(self, cursor: aiopg.Cursor, saga: UUID, operation: str, kind: Kind) -> ParticipantRecord | None:
        await cursor.execute(self._queries.read, (str(saga), operation, kind.value))
        if (row := await cursor.fetchone()) is None:
            return None
        request, outcome, raw_reply = row
        reply = None if raw_reply is None else ParticipantReply(*decode_reply(raw_reply))
        return ParticipantRecord(UUID(str(request)), ParticipantOutcome(outcome), reply)

    async def _settle(
        self,
        cursor: aiopg.Cursor,
        saga: UUID,
        operation: str,
        kind: Kind,
        outcome: ParticipantOutcome,
        reply: ParticipantReply,
    ) -> Response:
        raw = encode_reply(reply.status, reply.content, reply.headers)
        await cursor.execute(self._queries.settle, (outcome.value, raw, str(saga), operation, kind.value))
        return Response(reply.content, status=reply.status)
