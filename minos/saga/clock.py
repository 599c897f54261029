"""The time ``SagaManager`` reads to decide when a reply timed out, so tests can move it by hand."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from datetime import datetime, timedelta, timezone


class SagaClock(ABC):
    """Where ``SagaManager`` gets the current time: when a request was sent, when its wait expires, when a saga's
    deadline passes. Pass another implementation (``SagaManager(clock=...)``) to control time in tests."""

    @abstractmethod
    def now(self) -> datetime:
        """The current time, timezone-aware."""

    @abstractmethod
    async def sleep(self, seconds: float) -> None:
        """Return once ``seconds`` of this clock's time passed (a wait in memory ends this way)."""


class SystemClock(SagaClock):
    """The machine's clock, in UTC."""

    def now(self) -> datetime:
        """The current time, timezone-aware in UTC."""
        return datetime.now(timezone.utc)

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of real time (a negative wait returns at once)."""
        await asyncio.sleep(max(0.0, seconds))


class OffsetClock(SystemClock):
    """The machine's clock moved ahead by :meth:`advance`, so a demo or a benchmark can expire reply timeouts at once
    instead of waiting for them (waits in memory still sleep in real time)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)
        """How far ahead of the system clock it is."""

    def advance(self, seconds: float) -> None:
        """Move this clock ``seconds`` ahead of the machine's."""
        self.offset += timedelta(seconds=seconds)

    def now(self) -> datetime:
        """The machine's time plus the offset, timezone-aware in UTC."""
        return super().now() + self.offset
