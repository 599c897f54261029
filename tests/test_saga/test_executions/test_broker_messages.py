"""publish(): the engine's sends skip minos' debug formatting only when nothing would see the difference."""

from __future__ import annotations

import logging

from minos.networks import BrokerMessage, InMemoryBrokerPublisher

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
