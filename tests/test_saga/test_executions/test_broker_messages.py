"""build_message(): equal to minos' own construction."""

from __future__ import annotations

from uuid import uuid4

from minos.networks import (
    BrokerMessageV1,
    BrokerMessageV1Payload,
    BrokerMessageV1Status,
    BrokerMessageV1Strategy,
)

from minos.saga.executions._broker_messages import build_message


def test_build_message_equals_and_serialises_like_one_built_by_minos_constructor():
    identifier = uuid4()
    content = {"order": 1, "items": ["a", "b"]}
    built = build_message("CreateTicket", content, {"saga": "s1"}, "OrderReply", identifier)
    constructed = BrokerMessageV1(
        "CreateTicket",
        BrokerMessageV1Payload(content, headers={"saga": "s1"}),
        identifier=identifier,
        reply_topic="OrderReply",
        strategy=BrokerMessageV1Strategy.UNICAST,
    )

    assert built == constructed
    assert BrokerMessageV1.from_avro_bytes(built.avro_bytes) == constructed


def test_build_message_defaults():
    first, second = build_message("CreateTicket", None), build_message("CreateTicket", None)

    assert first.identifier != second.identifier
    assert first.reply_topic is None
    assert first.headers == {}
    assert first.ok and first.status == BrokerMessageV1Status.SUCCESS
    assert first.content is None
