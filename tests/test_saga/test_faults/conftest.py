"""Fixtures of the fault tests: fresh databases per test, a throwaway server to restart, the system's processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from minos.saga.testing import throwaway_database

from .servers import PostgresServer, empty_database
from .system import SagaSystem, running_system
from .zygote import Zygote


@pytest.fixture(scope="session")
def _shared_databases(postgres: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    broker_database = throwaway_database(postgres, "saga_faults_broker")
    saga_database = throwaway_database(postgres, "saga_faults_sagas")
    with broker_database as broker, saga_database as sagas:
        yield broker, sagas


@pytest.fixture
def broker_database(_shared_databases: tuple[dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
    """An empty database on the session's server (``postgres``) for the broker queue, the participants' ledger and
    the progress."""
    return empty_database(_shared_databases[0])


@pytest.fixture
def saga_database(_shared_databases: tuple[dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
    """An empty database on the session's server (``postgres``) for the saga executions."""
    return empty_database(_shared_databases[1])


@pytest.fixture(scope="session")
def restartable_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server the tests may restart."""
    server = PostgresServer.create()
    server.start()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="session")
def _restartable_database(restartable_server: PostgresServer) -> Iterator[dict[str, Any]]:
    with throwaway_database(restartable_server.settings(), "saga_faults_sagas") as database:
        yield database


@pytest.fixture
def restartable_saga_database(_restartable_database: dict[str, Any]) -> dict[str, Any]:
    """An empty database for the saga executions on the throwaway server."""
    return empty_database(_restartable_database)


@pytest.fixture(scope="session")
def zygote() -> Iterator[Zygote]:
    """Forks the tests' processes (imports are slow, forks are not)."""
    zygote = Zygote()
    try:
        yield zygote
    finally:
        zygote.close()


@pytest.fixture
def system(
    zygote: Zygote, saga_database: dict[str, Any], broker_database: dict[str, Any], tmp_path: Path
) -> Iterator[SagaSystem]:
    """Participants and orchestrators on the session's server."""
    with running_system(zygote, saga_database, broker_database, tmp_path) as system:
        yield system


@pytest.fixture
def restartable_system(
    zygote: Zygote,
    restartable_server: PostgresServer,
    restartable_saga_database: dict[str, Any],
    broker_database: dict[str, Any],
    tmp_path: Path,
) -> Iterator[SagaSystem]:
    """Participants and orchestrators whose saga executions live on the throwaway server (which they may
    restart)."""
    with running_system(
        zygote, restartable_saga_database, broker_database, tmp_path, restartable_server.env()
    ) as system:
        yield system
