"""The table behind ``ParticipantBarrier``: its statements and how a reply is kept in a row."""

from __future__ import annotations

from enum import Enum
from typing import Any

from minos.networks import BrokerMessageV1Payload

from ._postgresql import serialised_schema


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
