"""PendingMessage: an outbox record survives the JSON document it is stored in, whatever message it holds, and
records written with minos' avro of the whole message still load."""

from __future__ import annotations

import base64
import json
from datetime import date, datetime, timezone
from typing import Any
from uuid import uuid4

import pytest
from minos.networks import BrokerMessageV1, BrokerMessageV1Payload, BrokerMessageV1Status, BrokerMessageV1Strategy

from minos.saga import SagaContext
from minos.saga.executions._broker_messages import build_message
from minos.saga.executions._outbox import PendingMessage


def through_json(pending: PendingMessage) -> PendingMessage:
    return PendingMessage.from_raw(json.loads(json.dumps(pending.raw)))


@pytest.mark.parametrize(
    "content",
    [
        {"order": 1, "items": [{"sku": "A-1", "qty": 2}], "total": 9.5, "gift": False},
        {"customer": uuid4(), "at": datetime(2024, 1, 2, 3, 4, 5, 6789, tzinfo=timezone.utc)},
        None,
        ["a", 1],
    ],
)
def test_an_engine_message_with_plain_content_is_stored_by_its_fields(content: Any):
    message = build_message("CreateTicket", content, {"saga": str(uuid4())}, "orderReply")

    raw = PendingMessage(message).raw

    assert isinstance(raw["message"], dict)  # its fields, readable in the document
    assert raw["message"]["topic"] == "CreateTicket"
    loaded = through_json(PendingMessage(message))
    assert loaded.message == message
    assert loaded.message.content == content
    assert loaded.identifier == message.identifier


@pytest.mark.parametrize("content", [SagaContext(order=1), {"day": date(2024, 1, 2)}, {"codes": {1, 2}}])
def test_a_content_the_fast_codec_cannot_hold_is_stored_as_minos_avro_of_the_message(content: Any):
    message = build_message("CreateTicket", content, {}, "orderReply")

    raw = PendingMessage(message).raw

    assert isinstance(raw["message"], str)
    assert through_json(PendingMessage(message)).message == message


def test_every_field_of_the_message_is_kept():
    payload = BrokerMessageV1Payload(content={"reason": "out of stock"}, status=BrokerMessageV1Status.ERROR)
    message = BrokerMessageV1("TicketReply", payload, strategy=BrokerMessageV1Strategy.MULTICAST)

    loaded = through_json(PendingMessage(message)).message

    assert loaded == message
    assert (loaded.status, loaded.strategy, loaded.reply_topic) == (
        BrokerMessageV1Status.ERROR,
        BrokerMessageV1Strategy.MULTICAST,
        None,
    )


def test_a_record_holding_minos_avro_of_the_message_loads():
    message = build_message("CreateTicket", {"order": 1}, {"saga": "s"}, "orderReply")
    record = {
        "message": base64.b64encode(message.avro_bytes).decode("ascii"),
        "identifier": str(message.identifier),
        "sent_at": "2024-01-02T03:04:05+00:00",
        "attempts": 1,
    }

    loaded = PendingMessage.from_raw(record)

    assert loaded.message == message
    assert loaded.sent_at == datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert loaded.raw == record  # stored again as it was read
