"""The plumbing that lets three Minos services share one process.

* ``Bus`` connects minos-networks' in-memory broker pieces: a ``RoutingPublisher`` (an ``InMemoryBrokerPublisher``)
  hands every message to the ``RoutingSubscriber`` (an ``InMemoryBrokerSubscriber``, built by the stock
  ``InMemoryBrokerSubscriberBuilder``) registered for its topic. Like a real broker it keeps the messages of topics
  nobody listens to until a subscriber shows up, so a service can go down and come back.
* ``DemoConfig`` answers ``get_name()`` with the service whose code is running (a context variable), because
  ``minos.saga`` asks the injected config for "this service's name" and there is a single injector per process.
* ``MinosService`` runs one service the way a Minos microservice does: a ``BrokerHandler`` feeding a
  ``BrokerDispatcher`` whose actions are the service's ``enroute.broker`` handlers wrapped in its middleware. The
  dispatcher replies to ``request.reply_topic`` with the request's identifier and (echoed) headers.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from functools import partial
from pathlib import Path
from typing import Any
from uuid import UUID

from minos.common import Config
from minos.common.config.v2 import ConfigV2
from minos.networks import (
    BrokerDispatcher,
    BrokerHandler,
    BrokerMessage,
    BrokerMessageV1,
    BrokerMessageV1Payload,
    EnrouteCollector,
    InMemoryBrokerPublisher,
    InMemoryBrokerSubscriber,
    InMemoryBrokerSubscriberBuilder,
)

CURRENT_SERVICE: ContextVar[str] = ContextVar("CURRENT_SERVICE", default="order")

CONFIG_PATH = Path(__file__).with_name("config.yml")


class DemoConfig(ConfigV2):
    """The ``demo/config.yml`` config, named after the service running the current task."""

    def _get_name(self) -> str:
        return CURRENT_SERVICE.get()


class Bus:
    """Topic → subscribers, plus the messages waiting for a subscriber. ``trace`` prints every message. Messages to
    the topics in ``redelivered`` are delivered twice, as an at-least-once broker may; those in ``lost`` never arrive,
    as across a network partition."""

    def __init__(self, trace: Callable[[str], None] = print):
        self.redelivered: set[str] = set()
        self.lost: set[str] = set()
        self.subscribers: dict[str, list[RoutingSubscriber]] = defaultdict(list)
        self.waiting: dict[str, list[BrokerMessage]] = defaultdict(list)
        self.trace = trace
        self.client_topics: dict[str, str] = {}  # a broker client's random topic -> the service owning it

    def deliver(self, message: BrokerMessage) -> None:
        self.trace(self.describe(message))
        if message.topic in self.lost:
            self.trace(f"      (the broker loses {message.topic!r})")
            return
        subscribers = self.subscribers.get(message.topic)
        if not subscribers:
            self.waiting[message.topic].append(message)
            self.trace(f"      (nobody listens to {message.topic!r} right now: the broker keeps the message)")
            return
        for subscriber in subscribers:
            subscriber.add_message(message)
            if message.topic in self.redelivered:
                self.trace(f"      (the broker delivers {message.topic!r} again)")
                subscriber.add_message(_copy(message))

    def register(self, subscriber: RoutingSubscriber) -> None:
        for topic in subscriber.topics:
            self.subscribers[topic].append(subscriber)
            if len(subscriber.topics) == 1 and topic not in self.client_topics and _looks_random(topic):
                self.client_topics[topic] = CURRENT_SERVICE.get()
            for message in self.waiting.pop(topic, []):
                subscriber.add_message(message)

    def unregister(self, subscriber: RoutingSubscriber) -> None:
        for topic in subscriber.topics:
            if subscriber in self.subscribers.get(topic, []):
                self.subscribers[topic].remove(subscriber)

    def describe(self, message: BrokerMessage) -> str:
        sender = CURRENT_SERVICE.get()
        topic, is_reply = message.topic, message.topic.endswith("Reply")
        if topic in self.client_topics:
            topic, is_reply = f"{self.client_topics[topic]} (a client awaiting replies)", True
        content = message.content
        if isinstance(content, UUID):
            content = f"transaction {str(content)[:8]}…"
        elif isinstance(content, str) and len(content) > 60:
            content = content[:57] + "..."
        status = f" [{int(message.status)}]" if is_reply else ""
        return f"      {sender:>7} → {topic}{status}: {content}"


def _copy(message: BrokerMessage) -> BrokerMessage:
    """Another delivery of ``message``: same identifier and content, headers of its own (handlers change them)."""
    payload = BrokerMessageV1Payload(content=message.content, headers=dict(message.headers), status=message.status)
    return BrokerMessageV1(message.topic, payload, identifier=message.identifier, reply_topic=message.reply_topic)


def _looks_random(topic: str) -> bool:
    return len(topic) == 32 and all(char in "0123456789abcdef" for char in topic)


class RoutingPublisher(InMemoryBrokerPublisher):
    """An ``InMemoryBrokerPublisher`` that also delivers what it sends."""

    def __init__(self, bus: Bus, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.bus = bus

    async def _send(self, message: BrokerMessage) -> None:
        await super()._send(message)
        self.bus.deliver(message)


class RoutingSubscriber(InMemoryBrokerSubscriber):
    """An ``InMemoryBrokerSubscriber`` that listens on the bus while it is set up."""

    def __init__(self, topics: Iterable[str], bus: Bus, **kwargs):
        super().__init__(topics, **kwargs)
        self.bus = bus

    async def _setup(self) -> None:
        await super()._setup()
        self.bus.register(self)

    async def _destroy(self) -> None:
        self.bus.unregister(self)
        await super()._destroy()


def subscriber_builder(bus: Bus) -> InMemoryBrokerSubscriberBuilder:
    """minos' in-memory subscriber builder, building subscribers on ``bus``."""
    return InMemoryBrokerSubscriberBuilder().with_cls(RoutingSubscriber).with_kwargs({"bus": bus})


def load_config() -> Config:
    return DemoConfig(CONFIG_PATH)


class MinosService:
    """One service: its handler objects' ``enroute.broker`` routes, served by minos' ``BrokerHandler``."""

    def __init__(
        self, name: str, handlers: Iterable[Any], bus: Bus, config: Config, middleware: Iterable[Callable] = ()
    ):
        self.name = name
        self.handlers = list(handlers)
        self.bus = bus
        self.config = config
        self.middleware = list(middleware)
        self._handler: BrokerHandler | None = None
        self._task: asyncio.Task | None = None

    def actions(self) -> dict[str, Callable]:
        """``{topic: handler}`` as minos' ``EnrouteFactory`` builds them, but over handler *instances*."""
        actions: dict[str, Callable] = {}
        for instance in self.handlers:
            routes = EnrouteCollector(type(instance), config=self.config).get_broker_command_query_event()
            for name, decorators in routes.items():
                action = getattr(instance, name)
                for middleware_fn in reversed(self.middleware):
                    action = partial(middleware_fn, inner=action)
                for decorator in decorators:
                    actions[decorator.topic] = action
        return actions

    async def start(self) -> None:
        token = CURRENT_SERVICE.set(self.name)  # the consumer tasks created below inherit it
        try:
            dispatcher = BrokerDispatcher(self.actions(), RoutingPublisher(self.bus))
            subscriber = subscriber_builder(self.bus).with_topics(set(dispatcher.actions)).build()
            self._handler = BrokerHandler(dispatcher, subscriber)
            await self._handler.setup()
            self._task = asyncio.create_task(self._handler.run())
        finally:
            CURRENT_SERVICE.reset(token)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._handler is not None:
            await self._handler.destroy()
        self._handler = self._task = None
