"""build_message(): equal to minos' own construction; publish(): the engine's sends skip minos' debug formatting
only when nothing would see the difference."""

from __future__ import annotations

import logging
from uuid import uuid4

from minos.networks import (
    BrokerMessage,
    BrokerMessageV1,
    BrokerMessageV1Payload,
    BrokerMessageV1Status,
    BrokerMessageV1Strategy,
    InMemoryBrokerPublisher,
)

from minos.saga.executions._broker_messages import build_message, publish

PUBLISHER_LOGGER = "minos.networks.brokers.publishers.abc"


async def test_publish_delivers_the_message():
    publisher = InMemoryBrokerPublisher()
    message = build_message("CreateTicket", {"order": 1})

    await publish(publisher, message)

    assert publisher.messages == [message]


async def test_publish_keeps_minos_debug_line_when_debug_logging_is_on(caplog):
    publisher = InMemoryBrokerPublisher()
    message = build_message("CreateTicket", {"order": 1})

    with caplog.at_level(logging.DEBUG, logger=PUBLISHER_LOGGER):
        await publish(publisher, message)

    assert publisher.messages == [message]
    assert [record.getMessage() for record in caplog.records] == [f"Sending {message!r} message..."]


async def test_publish_calls_a_publisher_own_send():
    class CountingPublisher(InMemoryBrokerPublisher):
        sent: list[BrokerMessage] = []

        async def send(self, message: BrokerMessage) -> None:
            self.sent.append(message)
            await super().send(message)

    publisher = CountingPublisher()
    message = build_message("CreateTicket", {"order": 1})

    await publish(publisher, message)

    assert publisher.sent == [message]
    assert publisher.messages == [message]


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
