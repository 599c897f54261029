"""Paths, loaders and broker doubles the tests share: the Minos config named ``order``, the compat documents of
0.7.0, and an in-memory broker a test can answer through."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from minos.networks import BrokerMessage, InMemoryBrokerPublisher, InMemoryBrokerSubscriber

TESTS_DIR = Path(__file__).resolve().parent
CONFIG_FILE_PATH = TESTS_DIR / "config.yml"
COMPAT_DIR = TESTS_DIR / "fixtures" / "compat"


def load_compat(name: str) -> Any:
    """The compat document ``name`` (JSON) of 0.7.0."""
    return json.loads((COMPAT_DIR / name).read_text())


class NotifyingBrokerPublisher(InMemoryBrokerPublisher):
    """An in-memory publisher one can wait on, so a responder reacts to each message without polling."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sent: asyncio.Event | None = None

    async def _send(self, message: BrokerMessage) -> None:
        await super()._send(message)
        if self._sent is not None:
            self._sent.set()

    async def wait_for_message(self, index: int) -> BrokerMessage:
        """The ``index``-th message sent, once it has been sent."""
        while len(self.messages) <= index:
            if self._sent is None:
                self._sent = asyncio.Event()
            self._sent.clear()
            await self._sent.wait()
        return self.messages[index]


class FindableBrokerSubscriber(InMemoryBrokerSubscriber):
    """An in-memory subscriber a test can find by topic while it is set up (see ``subscriber_of``)."""

    async def _setup(self) -> None:
        await super()._setup()
        for topic in self.topics:
            _SUBSCRIBERS[topic] = self

    async def _destroy(self) -> None:
        for topic in self.topics:
            if _SUBSCRIBERS.get(topic) is self:
                del _SUBSCRIBERS[topic]
        await super()._destroy()


_SUBSCRIBERS: dict[str, FindableBrokerSubscriber] = {}


def subscriber_of(topic: str) -> FindableBrokerSubscriber:
    """The set-up subscriber listening on ``topic``: a client of the broker pool waiting for its replies."""
    try:
        return _SUBSCRIBERS[topic]
    except KeyError:
        raise LookupError(f"no broker client listens on {topic!r}") from None
