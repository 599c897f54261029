"""The shortcuts through minos internals: the installed minos is built the way they assume, and each behaves as
the public API it stands in for."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from minos.common import DeclarativeModel, DependencyInjector, Field, Inject, NotProvidedException
from minos.networks import (
    BrokerMessage,
    BrokerMessageV1Payload,
    BrokerMessageV1Status,
    BrokerPublisher,
    InMemoryBrokerPublisher,
)

from minos.saga._minos_internals import (
    build_model,
    injection_resolver,
    publish,
    unchecked_field,
    unmet_assumptions,
)
from minos.saga.executions._broker_messages import build_message

PUBLISHER_LOGGER = "minos.networks.brokers.publishers.abc"


def test_the_installed_minos_is_built_as_the_shortcuts_assume():
    problems = unmet_assumptions()

    assert not problems, "minos internals changed; the shortcuts of minos.saga._minos_internals need updating:\n" + (
        "\n".join(problems)
    )


def test_unchecked_field_holds_the_value_as_given():
    value = ["not", "an", "int"]
    field = unchecked_field("amount", int, value)

    assert (field.name, field.value, field.parser, field.validator) == ("amount", value, None, None)
    assert field.value is value
    assert field == Field("amount", Any, value)


def test_build_model_equals_the_constructor_built_model():
    built = build_model(BrokerMessageV1Payload, content={"a": 1}, status=BrokerMessageV1Status.ERROR, headers={})

    assert built == BrokerMessageV1Payload({"a": 1}, status=BrokerMessageV1Status.ERROR)


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


def test_a_field_with_other_slots_is_reported(monkeypatch):
    monkeypatch.setattr(Field, "__slots__", ("_name", "_type", "_value", "_parser", "_validator", "_extra"))

    assert ["_extra" in problem for problem in unmet_assumptions()] == [True]


def test_a_send_that_no_longer_delegates_to_send_underscore_is_reported(monkeypatch):
    async def send_elsewhere(self, message: BrokerMessage) -> None:
        logging.getLogger(PUBLISHER_LOGGER).debug(f"Sending {message!r} message...")

    monkeypatch.setattr(BrokerPublisher, "send", send_elsewhere)

    assert ["BrokerPublisher.send" in problem for problem in unmet_assumptions()] == [True]


def test_models_that_hold_more_state_are_reported(monkeypatch):
    constructor = DeclarativeModel.__init__

    def init_with_a_cache(self: DeclarativeModel, *args: Any, **kwargs: Any) -> None:
        constructor(self, *args, **kwargs)
        self._cache = {}

    monkeypatch.setattr(DeclarativeModel, "__init__", init_with_a_cache)

    assert ["build_model" in problem for problem in unmet_assumptions()] == [True]


async def test_injection_resolver_gives_what_inject_resolves_for_every_injected_name(injector: DependencyInjector):
    resolve = injection_resolver()
    names = [*injector.injections, "config"]

    assert resolve is not Inject.resolve_by_name  # it takes the shortcut with a wired injector
    assert [resolve(name) for name in names] == [Inject.resolve_by_name(name) for name in names]
    assert resolve("config") is injector.config


async def test_injection_resolver_refuses_a_name_nothing_provides(injector: DependencyInjector):
    with pytest.raises(NotProvidedException):
        injection_resolver()("lock_pool")


def test_injection_resolver_without_a_wired_injector_resolves_by_name():
    assert injection_resolver() is Inject.resolve_by_name


def test_a_resolve_by_name_that_reads_no_container_is_reported(monkeypatch):
    monkeypatch.setattr(Inject, "resolve_by_name", staticmethod(lambda name, container=None: None))

    assert ["Inject.resolve_by_name" in problem for problem in unmet_assumptions()] == [True]
