"""InMemorySagaExecutionRepository: 0.7.0's repository test case and the storage contract cases."""

from __future__ import annotations

from minos.saga import InMemorySagaExecutionRepository, SagaExecutionRepository
from minos.saga.testing import (
    IncrementalSagaExecutionRepositoryContract,
    SagaExecutionListerContract,
    SagaExecutionRepositoryTestCase,
)
from tests.helpers import CONFIG_FILE_PATH


class TestInMemorySagaExecutionRepository(SagaExecutionRepositoryTestCase):
    __test__ = True
    CONFIG_FILE_PATH = CONFIG_FILE_PATH

    def build_saga_execution_repository(self) -> SagaExecutionRepository:
        return InMemorySagaExecutionRepository()

    async def test_loaded_is_a_copy(self) -> None:
        await self.saga_execution_repository.store(self.execution)
        loaded = await self.saga_execution_repository.load(self.execution.uuid)
        loaded.context["order"] = "changed"
        self.assertEqual(self.execution, await self.saga_execution_repository.load(self.execution.uuid))


class TestInMemoryContract(IncrementalSagaExecutionRepositoryContract):
    __test__ = True

    def build_repository(self) -> SagaExecutionRepository:
        return InMemorySagaExecutionRepository()


class TestInMemoryListerContract(SagaExecutionListerContract):
    __test__ = True

    def build_repository(self) -> SagaExecutionRepository:
        return InMemorySagaExecutionRepository()
