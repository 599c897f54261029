"""Fixtures shared by the saga unit tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from minos.common import DependencyInjector
from minos.networks import BrokerClientPool, BrokerMessage, InMemoryBrokerPublisher

from .utils import answer_reserves, responder


@pytest.fixture
def broker_pool(injector: DependencyInjector) -> BrokerClientPool:
    return injector.pool_factory.get_pool("broker")


@pytest.fixture
async def reserves_ok(
    broker_publisher: InMemoryBrokerPublisher, broker_pool: BrokerClientPool
) -> AsyncIterator[list[BrokerMessage]]:
    """Every participant accepts the transaction reservations."""
    async with responder(broker_publisher, answer_reserves(200)) as answered:
        yield answered
