"""Test helpers for services and for third-party saga repositories."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID, uuid4

from minos.common import DatabaseOperation, DeclarativeModel
from minos.common.testing import MinosTestCase, MockedDatabaseClient, MockedDatabaseOperation

from ._incremental_contract import IncrementalSagaExecutionRepositoryContract
from ._lister_contract import SagaExecutionListerContract
from ._repository_contract import SagaExecutionRepositoryContract
from .context import SagaContext
from .definitions import Saga
from .exceptions import SagaExecutionNotFoundException
from .executions import (
    SagaExecution,
    SagaExecutionDatabaseOperationFactory,
    SagaExecutionRepository,
)
from .messages import SagaRequest

# The contract test cases are defined in internal modules and public here.
__all__ = [
    "Foo",
    "IncrementalSagaExecutionRepositoryContract",
    "MockedSagaExecutionDatabaseOperationFactory",
    "SagaExecutionListerContract",
    "SagaExecutionRepositoryContract",
    "SagaExecutionRepositoryTestCase",
    "add_order",
    "reserve_stock",
    "ship_order",
    "throwaway_database",
]


@contextmanager
def throwaway_database(server: dict[str, Any], prefix: str = "minos_saga") -> Iterator[dict[str, Any]]:
    """A new database on ``server`` (``host``, ``port``, ``user``, ``password``) for one test or run, named
    ``prefix`` plus a random suffix: yields the server settings plus its ``database`` name, as a ``saga`` database
    entry (or ``ParticipantBarrier``) takes them, and drops it on exit even while clients are still connected."""
    name = f"{prefix}_{uuid4().hex[:12]}"
    _administer(server, f"CREATE DATABASE {name}")
    try:
        yield {"database": name, **server}
    finally:
        # A connection of its own: the server may have been restarted meanwhile.
        _administer(server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _administer(server: dict[str, Any], statement: str) -> None:
    import psycopg2

    admin = psycopg2.connect(dbname="postgres", connect_timeout=3, **server)
    admin.autocommit = True  # CREATE and DROP DATABASE cannot run in a transaction
    try:
        with admin.cursor() as cursor:
            cursor.execute(statement)
    finally:
        admin.close()


class MockedSagaExecutionDatabaseOperationFactory(SagaExecutionDatabaseOperationFactory):
    """Operations for minos' ``MockedDatabaseClient``, which answers with whatever a test primes it with."""

    def build_store(self, uuid: UUID, **kwargs: Any) -> DatabaseOperation:
        """A mocked ``store`` operation (the mocked client answers what the test primes)."""
        return MockedDatabaseOperation("store")

    def build_load(self, uuid: UUID) -> DatabaseOperation:
        """A mocked ``load`` operation (the mocked client answers what the test primes)."""
        return MockedDatabaseOperation("load")

    def build_delete(self, uuid: UUID) -> DatabaseOperation:
        """A mocked ``delete`` operation (the mocked client answers what the test primes)."""
        return MockedDatabaseOperation("delete")


MockedDatabaseClient.set_factory(SagaExecutionDatabaseOperationFactory, MockedSagaExecutionDatabaseOperationFactory)


def add_order(context: SagaContext) -> SagaContext:
    """The local callback of the saga the repository test cases store (first step of the contracts' first one)."""
    context["order"] = "created"
    return context


def reserve_stock(context: SagaContext) -> SagaRequest:
    """A request callback of the first sample saga the contract test cases store."""
    return SagaRequest("ReserveStock", {"order": context["order"]})


class Foo(DeclarativeModel):
    """A one-field model for tests that need a model value, e.g. inside a context."""

    foo: str
    """A text value."""


class SagaExecutionRepositoryTestCase(MinosTestCase, ABC):
    """The scenarios of 0.7.0's repository test case, making the same repository calls in the same order (so a
    plugin that primes a mocked database client for them keeps passing). New scenarios live in
    :class:`SagaExecutionRepositoryContract`.

    Subclass it, set ``CONFIG_FILE_PATH`` and implement :meth:`build_saga_execution_repository`. ``execution`` is a
    finished execution and ``another`` a new one of the same saga, both built in :meth:`asyncSetUp`.
    """

    __test__ = False

    def setUp(self) -> None:
        """Build the repository under test."""
        super().setUp()
        self.saga_execution_repository = self.build_saga_execution_repository()

    @abstractmethod
    def build_saga_execution_repository(self) -> SagaExecutionRepository:
        """The repository under test."""

    async def asyncSetUp(self) -> None:
        """Set the repository up and prepare two executions of one saga (one already run)."""
        await super().asyncSetUp()
        await self.saga_execution_repository.setup()
        definition = Saga().local_step(add_order).commit()
        self.execution = SagaExecution.from_definition(definition)
        await self.execution.execute(autocommit=False)
        self.another = SagaExecution.from_definition(definition)

    async def asyncTearDown(self) -> None:
        """Destroy the repository."""
        await self.saga_execution_repository.destroy()
        await super().asyncTearDown()

    async def test_store(self) -> None:
        """A stored execution loads back equal."""
        await self.saga_execution_repository.store(self.execution)
        self.assertEqual(self.execution, await self.saga_execution_repository.load(self.execution.uuid))

    async def test_store_overwrite(self) -> None:
        """Storing another execution under the same uuid replaces the first."""
        await self.saga_execution_repository.store(self.execution)
        self.assertEqual(self.execution, await self.saga_execution_repository.load(self.execution.uuid))

        self.another.uuid = self.execution.uuid
        await self.saga_execution_repository.store(self.another)
        self.assertNotEqual(self.execution, await self.saga_execution_repository.load(self.execution.uuid))
        self.assertEqual(self.another, await self.saga_execution_repository.load(self.execution.uuid))

    async def test_load_from_str(self) -> None:
        """An execution loads by the string of its uuid too."""
        await self.saga_execution_repository.store(self.execution)
        self.assertEqual(self.execution, await self.saga_execution_repository.load(str(self.execution.uuid)))

    async def test_load_raises(self) -> None:
        """Loading an execution never stored raises ``SagaExecutionNotFoundException``."""
        with self.assertRaises(SagaExecutionNotFoundException):
            await self.saga_execution_repository.load(self.execution.uuid)

    async def test_delete(self) -> None:
        """A deleted execution (given itself) no longer loads."""
        await self.saga_execution_repository.store(self.execution)
        await self.saga_execution_repository.delete(self.execution)
        with self.assertRaises(SagaExecutionNotFoundException):
            await self.saga_execution_repository.load(self.execution.uuid)

    async def test_delete_from_str(self) -> None:
        """A deleted execution (given the string of its uuid) no longer loads."""
        await self.saga_execution_repository.store(self.execution)
        await self.saga_execution_repository.delete(str(self.execution.uuid))
        with self.assertRaises(SagaExecutionNotFoundException):
            await self.saga_execution_repository.load(self.execution.uuid)


def ship_order(context: SagaContext) -> SagaRequest:
    """The first step of the second sample saga the contract test cases store (another saga name)."""
    return SagaRequest("ShipOrder", {"order": context["order"]})
