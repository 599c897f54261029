"""Shared wiring: a Minos config named ``order``, an in-memory broker, the compat documents of 0.7.0, and a PostgreSQL
server for the session."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from minos.common import Config, DependencyInjector, PoolFactory
from minos.networks import InMemoryBrokerSubscriberBuilder

from minos.saga.testing import throwaway_database
from tests._postgres import postgres_server
from tests.helpers import COMPAT_DIR, CONFIG_FILE_PATH, FindableBrokerSubscriber, NotifyingBrokerPublisher

sys.path.insert(0, str(COMPAT_DIR))  # the compat documents name their callbacks ``saga_compat_callbacks.<fn>``


@pytest.fixture
def config() -> Config:
    return Config(CONFIG_FILE_PATH)


@pytest.fixture
async def injector(config: Config) -> AsyncIterator[DependencyInjector]:
    """Config, pool factory (broker pool), in-memory broker publisher and subscriber builder, injected and set up."""
    import minos.saga

    pool_factory = PoolFactory.from_config(config)
    subscriber_builder = InMemoryBrokerSubscriberBuilder().with_cls(FindableBrokerSubscriber)
    injector = DependencyInjector(config, [pool_factory, NotifyingBrokerPublisher(), subscriber_builder])
    await injector.wire_and_setup_injections(modules=[minos.saga, sys.modules[__name__]])
    try:
        yield injector
    finally:
        await injector.unwire_and_destroy_injections()


@pytest.fixture
def broker_publisher(injector: DependencyInjector) -> NotifyingBrokerPublisher:
    return injector.broker_publisher


@pytest.fixture(scope="session")
def postgres() -> Iterator[dict[str, Any]]:
    """``host``/``port``/``user``/``password`` of a PostgreSQL server: the one PGHOST/PGPORT name, else a throwaway
    server started for this session (only when a test asks for it) and removed at its end."""
    with postgres_server() as settings:
        yield settings


@pytest.fixture(scope="module")
def postgres_database(postgres: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A database of its own for the test module on the session's server: ``database`` plus the server settings,
    as a ``saga`` database entry names them. Dropped at the end of the module."""
    with throwaway_database(postgres) as settings:
        yield settings


@pytest.fixture
def fresh_postgres_database(postgres: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Like ``postgres_database``, for one test that needs a database nothing has set up yet."""
    with throwaway_database(postgres) as settings:
        yield settings
