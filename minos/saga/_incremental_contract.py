"""The contract of repositories that store executions in parts (``IncrementalSagaExecutionRepositoryContract``)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from uuid import UUID, uuid4

from minos.networks import BrokerMessageV1, BrokerMessageV1Payload

from ._repository_contract import SagaExecutionRepositoryContract
from .context import SagaContext
from .definitions import Saga
from .exceptions import SagaExecutionNotFoundException, SagaExecutionNotStorableException
from .executions import (
    IncrementalSagaExecutionRepository,
    LocalSagaStepExecution,
    RemoteSagaStepExecution,
    SagaExecution,
    SagaStatus,
    SagaStepStatus,
)
from .executions._outbox import PendingMessage


class IncrementalSagaExecutionRepositoryContract(SagaExecutionRepositoryContract):
    """What an ``IncrementalSagaExecutionRepository`` must do, besides the contract of every repository: load back
    the document it was given in parts, in every state of an execution, and write only the steps that changed
    without ever keeping a step that did change (a compensation changes earlier steps; another writer or a delete
    changes the stored revision). Adopt it as :class:`SagaExecutionRepositoryContract`::

        class TestMyRepository(IncrementalSagaExecutionRepositoryContract):
            __test__ = True

            def build_repository(self):
                return MyRepository(...)
    """

    repository: IncrementalSagaExecutionRepository
    """The repository under test, set up for each test."""

    async def test_every_state_loads_back_as_the_same_document(self) -> None:
        """Created, running, paused (with outbox metadata), compensating, rolled back and finished executions load
        back with the very document they were stored with."""
        for name, execution in self.executions_in_every_state().items():
            with self.subTest(name):
                await self.repository.store(execution)
                await self.assert_stored(execution)

    async def test_a_store_after_a_load_writes_what_changed(self) -> None:
        """An execution loaded, moved on by one step and stored loads back moved on."""
        execution = self.awaiting_execution()
        await self.repository.store(execution)
        loaded = await self.repository.load(execution.uuid)
        self.finish_paused_step(loaded)
        await self.repository.store(loaded)
        await self.assert_stored(loaded)

    async def test_a_compensation_rewrites_the_earlier_steps(self) -> None:
        """Compensating changes steps stored long before: they are written again, by the object that stored them
        and by one loaded afterwards."""
        execution = self.awaiting_execution()
        await self.repository.store(execution)
        self.finish_paused_step(execution)
        await self.repository.store(execution)
        self.compensate(execution)
        await self.repository.store(execution)
        await self.assert_stored(execution)

        loaded = await self.repository.load(execution.uuid)
        loaded.executed_steps[0].status = SagaStepStatus.ErroredOnFailure
        await self.repository.store(loaded)
        await self.assert_stored(loaded)

    async def test_a_store_after_another_writer_writes_every_step(self) -> None:
        """Two objects loaded from the same revision: when the second stores after the first did, the stored steps
        are the second's, none of the first's."""
        execution = self.awaiting_execution()
        await self.repository.store(execution)
        first, second = [await self.repository.load(execution.uuid) for _ in range(2)]
        self.compensate(first)
        await self.repository.store(first)
        self.finish_paused_step(second)
        await self.repository.store(second)
        await self.assert_stored(second)

    async def test_a_store_after_a_delete_writes_every_step(self) -> None:
        """An execution stored, deleted, then stored again loads back whole."""
        execution = self.awaiting_execution()
        await self.repository.store(execution)
        await self.repository.delete(execution)
        self.finish_paused_step(execution)
        await self.repository.store(execution)
        await self.assert_stored(execution)

    async def test_a_value_that_cannot_be_stored_changes_nothing(self) -> None:
        """A NUL character in the state or in a step raises ``SagaExecutionNotStorableException`` and leaves the
        stored execution as it was; a new execution with a lone surrogate is not stored at all."""
        execution = self.awaiting_execution()
        await self.repository.store(execution)
        stored = json.dumps(execution.raw, ensure_ascii=False)
        assert execution.paused_step is not None
        execution.paused_step.related_services.add("a\x00b")  # a service named in a reply header, say
        with self.assertRaises(SagaExecutionNotStorableException):
            await self.repository.store(execution)
        execution.paused_step.related_services.remove("a\x00b")
        execution.executed_steps[0].related_services.add("a\x00b")
        with self.assertRaises(SagaExecutionNotStorableException):
            await self.repository.store(execution)
        self.assertEqual(stored, json.dumps((await self.repository.load(execution.uuid)).raw, ensure_ascii=False))

        new = self.created_execution()
        new.context["note"] = "\ud800"
        with self.assertRaises(SagaExecutionNotStorableException):
            await self.repository.store(new)
        with self.assertRaises(SagaExecutionNotFoundException):
            await self.repository.load(new.uuid)

    async def assert_stored(self, execution: SagaExecution) -> None:
        """The repository holds ``execution``: it loads back equal, with the same document text."""
        loaded = await self.repository.load(execution.uuid)
        self.assertEqual(execution, loaded)
        self.assertEqual(json.dumps(execution.raw, ensure_ascii=False), json.dumps(loaded.raw, ensure_ascii=False))

    @staticmethod
    def awaiting_execution(user: UUID | None = None) -> SagaExecution:
        """An execution of the three-step sample saga paused on its second step, its request in the outbox."""
        definition = _three_step_saga()
        execution = SagaExecution(
            definition,
            uuid4(),
            SagaContext(order="created", amount=3.5, note="café ☕"),
            status=SagaStatus.Paused,
            steps=[LocalSagaStepExecution(definition.steps[0], {"order"}, SagaStepStatus.Finished)],
            paused_step=RemoteSagaStepExecution(
                definition.steps[1], {"order"}, SagaStepStatus.PausedByOnExecute, request_id=uuid4()
            ),
            user=user,
            deadline_at=datetime(2030, 1, 1, tzinfo=timezone.utc),
        )
        request = BrokerMessageV1("ReserveStock", BrokerMessageV1Payload({"order": "created"}))
        execution.outbox.append(PendingMessage(request, sent_at=datetime(2029, 1, 1, tzinfo=timezone.utc)))
        return execution

    @staticmethod
    def finish_paused_step(execution: SagaExecution) -> None:
        """Move ``execution`` on as its paused step's reply would: that step finishes, the next one (if any) pauses
        with its request sent."""
        assert execution.paused_step is not None
        execution.paused_step.status = SagaStepStatus.Finished
        execution.paused_step.related_services.add("stock")
        execution.executed_steps.append(execution.paused_step)
        execution.outbox.clear()
        following = execution.definition.steps[len(execution.executed_steps) :]
        if not following:
            execution.status, execution.paused_step = SagaStatus.Finished, None
            return
        execution.paused_step = RemoteSagaStepExecution(
            following[0], {"order"}, SagaStepStatus.PausedByOnExecute, request_id=uuid4()
        )

    @staticmethod
    def compensate(execution: SagaExecution) -> None:
        """Compensate ``execution`` as a failed step would: every executed step is rolled back."""
        for step in execution.executed_steps:
            step.already_rollback = True
        execution.status, execution.already_rollback, execution.paused_step = SagaStatus.Errored, True, None

    def executions_in_every_state(self) -> dict[str, SagaExecution]:
        """An execution of the sample saga in each state a repository stores, by name."""
        running = SagaExecution.from_definition(_three_step_saga(), SagaContext(order="x"), status=SagaStatus.Running)
        finished = self.awaiting_execution()
        for _ in range(2):
            self.finish_paused_step(finished)
        compensating = self.awaiting_execution()
        compensating.executed_steps[0].status = SagaStepStatus.ErroredOnFailure
        compensating.compensations_stalled = True
        rolled_back = self.awaiting_execution()
        self.compensate(rolled_back)
        return {
            "created": self.created_execution(user=uuid4()),
            "running": running,
            "paused": self.awaiting_execution(user=uuid4()),
            "compensating": compensating,
            "rolled back": rolled_back,
            "finished": finished,
        }


def _three_step_saga() -> Saga:
    # Imported here: minos.saga.testing defines the sample callbacks and imports this module.
    from .testing import add_order, reserve_stock, ship_order

    return Saga().local_step(add_order).remote_step(reserve_stock).remote_step(ship_order).commit()
