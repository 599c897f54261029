"""Test helpers for services and for third-party saga repositories."""

from __future__ import annotations

from abc import ABC, abstractmethod
from uuid import uuid4

from minos.common import DatabaseOperation
from minos.common.testing import MinosTestCase, MockedDatabaseClient, MockedDatabaseOperation

from .context import SagaContext
from .definitions import Saga
from .exceptions import SagaExecutionNotFoundException
from .executions import (
    LocalSagaStepExecution,
    RemoteSagaStepExecution,
    SagaExecution,
    SagaExecutionDatabaseOperationFactory,
    SagaExecutionRepository,
    SagaStatus,
    SagaStepStatus,
)
from .messages import SagaRequest


class MockedSagaExecutionDatabaseOperationFactory(SagaExecutionDatabaseOperationFactory):
    """Operations for minos' ``MockedDatabaseClient``, which answers with whatever a test primes it with."""

    def build_store(self, uuid, **kwargs) -> DatabaseOperation:
        return MockedDatabaseOperation("store")

    def build_load(self, uuid) -> DatabaseOperation:
        return MockedDatabaseOperation("load")

    def build_delete(self, uuid) -> DatabaseOperation:
        return MockedDatabaseOperation("delete")


MockedDatabaseClient.set_factory(SagaExecutionDatabaseOperationFactory, MockedSagaExecutionDatabaseOperationFactory)


def add_order(context: SagaContext) -> SagaContext:
    """A local callback of the sample saga the repository test case stores."""
    context["order"] = "created"
    return context


def reserve_stock(context: SagaContext) -> SagaRequest:
    """A request callback of the sample saga the repository test case stores."""
    return SagaRequest("ReserveStock", {"order": context["order"]})


class SagaExecutionRepositoryTestCase(MinosTestCase, ABC):
    """The behaviour every ``SagaExecutionRepository`` must have. Subclass it, set ``CONFIG_FILE_PATH`` and
    implement :meth:`build_saga_execution_repository`."""

    __test__ = False

    def setUp(self) -> None:
        super().setUp()
        self.saga_execution_repository = self.build_saga_execution_repository()
        definition = Saga().local_step(add_order).remote_step(reserve_stock).commit()
        self.execution = SagaExecution(
            definition,
            uuid4(),
            SagaContext(order="created", amount=3.5),
            status=SagaStatus.Paused,
            steps=[LocalSagaStepExecution(definition.steps[0], {"order"}, SagaStepStatus.Finished)],
            paused_step=RemoteSagaStepExecution(definition.steps[1], {"order"}, SagaStepStatus.PausedByOnExecute),
        )
        self.another = SagaExecution.from_definition(definition, SagaContext(order="other"))

    @abstractmethod
    def build_saga_execution_repository(self) -> SagaExecutionRepository:
        """The repository under test."""

    async def asyncSetUp(self) -> None:
        await super().asyncSetUp()
        await self.saga_execution_repository.setup()

    async def asyncTearDown(self) -> None:
        await self.saga_execution_repository.destroy()
        await super().asyncTearDown()

    async def populate(self) -> None:
        await self.saga_execution_repository.store(self.execution)
        await self.saga_execution_repository.store(self.another)

    async def test_store(self) -> None:
        await self.saga_execution_repository.store(self.execution)
        self.assertEqual(self.execution, await self.saga_execution_repository.load(self.execution.uuid))

    async def test_store_overwrite(self) -> None:
        await self.saga_execution_repository.store(self.execution)
        self.execution.status = SagaStatus.Errored
        self.execution.context["order"] = "cancelled"
        await self.saga_execution_repository.store(self.execution)
        self.assertEqual(self.execution, await self.saga_execution_repository.load(self.execution.uuid))

    async def test_load(self) -> None:
        await self.populate()
        self.assertEqual(self.execution, await self.saga_execution_repository.load(self.execution.uuid))
        self.assertEqual(self.another, await self.saga_execution_repository.load(self.another.uuid))

    async def test_load_from_str(self) -> None:
        await self.populate()
        self.assertEqual(self.execution, await self.saga_execution_repository.load(str(self.execution.uuid)))

    async def test_load_raises(self) -> None:
        await self.populate()
        with self.assertRaises(SagaExecutionNotFoundException):
            await self.saga_execution_repository.load(uuid4())

    async def test_delete(self) -> None:
        await self.populate()
        await self.saga_execution_repository.delete(self.execution)
        with self.assertRaises(SagaExecutionNotFoundException):
            await self.saga_execution_repository.load(self.execution.uuid)
        self.assertEqual(self.another, await self.saga_execution_repository.load(self.another.uuid))

    async def test_delete_from_str(self) -> None:
        await self.populate()
        await self.saga_execution_repository.delete(str(self.execution.uuid))
        with self.assertRaises(SagaExecutionNotFoundException):
            await self.saga_execution_repository.load(self.execution.uuid)
