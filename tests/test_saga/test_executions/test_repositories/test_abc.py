"""SagaExecutionRepository: what its ``store`` hands a repository that reads ``execution.raw``."""

from __future__ import annotations

from minos.saga import SagaExecution
from minos.saga.testing import SagaExecutionRepositoryContract
from tests.test_saga.utils import DocumentRepository


async def test_raw_read_while_storing_is_the_readers_own():
    class ChangingFirstRaw(DocumentRepository):
        async def _store(self, execution: SagaExecution) -> None:
            first = execution.raw
            first["status"], first["executed_steps"][0]["status"] = "errored", "errored_on_execution"
            await super()._store(execution)  # reads raw again

    execution = SagaExecutionRepositoryContract.paused_execution()
    repository = ChangingFirstRaw()
    await repository.store(execution)
    assert (await repository.load(execution.uuid)).raw == execution.raw
