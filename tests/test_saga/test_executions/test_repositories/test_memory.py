"""InMemorySagaExecutionRepository: the shared repository test case, plus listing."""

from __future__ import annotations

from minos.saga import InMemorySagaExecutionRepository, SagaExecutionRepository, SagaStatus
from minos.saga.testing import SagaExecutionRepositoryTestCase
from tests.conftest import CONFIG_FILE_PATH


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

    async def test_list(self) -> None:
        await self.populate()
        summaries = await self.saga_execution_repository.list()
        self.assertEqual([self.execution.uuid, self.another.uuid], [summary.uuid for summary in summaries])
        paused = await self.saga_execution_repository.list(status=SagaStatus.Paused)
        self.assertEqual([self.execution.uuid], [summary.uuid for summary in paused])
        self.assertEqual([self.another.uuid], [s.uuid for s in await self.saga_execution_repository.list(offset=1)])

    async def test_delete_missing_is_fine(self) -> None:
        await self.saga_execution_repository.delete(self.execution)

    async def test_load_bad_uuid(self) -> None:
        from minos.saga import SagaExecutionNotFoundException

        with self.assertRaises(SagaExecutionNotFoundException):
            await self.saga_execution_repository.load("not-a-uuid")
