"""InMemorySagaExecutionRepository: 0.7.0's repository test case and the storage contract cases."""

from __future__ import annotations

from minos.saga import InMemorySagaExecutionRepository, SagaExecution, SagaExecutionRepository
from minos.saga.testing import (
    SagaExecutionListerContract,
    SagaExecutionRepositoryContract,
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

    async def test_raw_read_while_storing_is_the_readers_own(self) -> None:
        class ChangingFirstRaw(InMemorySagaExecutionRepository):
            async def _store(self, execution: SagaExecution) -> None:
                first = execution.raw
                first["status"], first["executed_steps"][0]["status"] = "errored", "errored_on_execution"
                await super()._store(execution)  # reads raw again

        repository = ChangingFirstRaw()
        await repository.store(self.execution)
        self.assertEqual(self.execution.raw, (await repository.load(self.execution.uuid)).raw)


class TestInMemoryContract(SagaExecutionRepositoryContract):
    __test__ = True

    def build_repository(self) -> SagaExecutionRepository:
        return InMemorySagaExecutionRepository()


class TestInMemoryListerContract(SagaExecutionListerContract):
    __test__ = True

    def build_repository(self) -> SagaExecutionRepository:
        return InMemorySagaExecutionRepository()
