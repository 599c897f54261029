"""Fixtures of the fault tests: fresh databases per test, a throwaway server to restart, the system's processes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .servers import PostgresServer, drop_database, recreate_database, shared_connection_options
from .system import SagaSystem


def _database(options: dict[str, Any]) -> Iterator[dict[str, Any]]:
    recreate_database(options)
    try:
        yield options
    finally:
        drop_database(options)


@pytest.fixture
def broker_database() -> Iterator[dict[str, Any]]:
    """A fresh database on the shared server for the broker queue, the participants' ledger and the progress."""
    yield from _database(shared_connection_options(f"saga_faults_broker_{os.getpid()}"))


@pytest.fixture
def saga_database() -> Iterator[dict[str, Any]]:
    """A fresh database on the shared server for the saga executions."""
    yield from _database(shared_connection_options(f"saga_faults_sagas_{os.getpid()}"))


@pytest.fixture(scope="session")
def restartable_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server the tests may restart."""
    server = PostgresServer.create()
    server.start()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def restartable_saga_database(restartable_server: PostgresServer) -> Iterator[dict[str, Any]]:
    """A fresh database for the saga executions on the throwaway server."""
    yield from _database(restartable_server.connection_options("saga_faults_sagas"))


def _system(saga_database: dict[str, Any], broker_database: dict[str, Any], tmp_path: Path) -> Iterator[SagaSystem]:
    system = SagaSystem(saga_database, broker_database, tmp_path)
    try:
        yield system
    finally:
        system.stop()


@pytest.fixture
def system(saga_database: dict[str, Any], broker_database: dict[str, Any], tmp_path: Path) -> Iterator[SagaSystem]:
    """Participants and orchestrators on the shared server."""
    yield from _system(saga_database, broker_database, tmp_path)


@pytest.fixture
def restartable_system(
    restartable_saga_database: dict[str, Any], broker_database: dict[str, Any], tmp_path: Path
) -> Iterator[SagaSystem]:
    """Participants and orchestrators whose saga executions live on the throwaway server."""
    yield from _system(restartable_saga_database, broker_database, tmp_path)
