"""IncrementalSagaExecutionRepository: the parts the engine hands a repository (their texts join into the whole
document; ``unchanged`` counts the steps whose text is the stored one), and executions rebuilt from parts."""

from __future__ import annotations

import json
from uuid import UUID

import pytest

from minos.saga import (
    IncrementalSagaExecutionRepository,
    InMemorySagaExecutionRepository,
    Saga,
    SagaContext,
    SagaExecution,
    SagaExecutionFormatException,
    SagaExecutionNotStorableException,
    SagaExecutionParts,
    SagaPausedExecutionStepException,
    SagaStatus,
)
from tests.test_saga.test_executions.helpers import conditional_definition, paused, reply, two_remote_definition
from tests.test_saga.utils import add_amount, add_order, delete_order, send_create_ticket

pytestmark = pytest.mark.usefixtures("injector")


class RecordingRepository(InMemorySagaExecutionRepository):
    """The in-memory repository, recording the parts it is handed."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[SagaExecutionParts] = []

    async def _write_parts(self, parts: SagaExecutionParts) -> None:
        self.written.append(parts)
        await super()._write_parts(parts)


def whole(execution: SagaExecution) -> str:
    return json.dumps(execution.raw, ensure_ascii=False)


async def test_parts_join_into_the_whole_document_at_each_pause(broker_publisher):
    repository = RecordingRepository()
    execution = await paused(two_remote_definition(), SagaContext(amount=2, note="café ☕"))
    await repository.store(execution)
    with pytest.raises(SagaPausedExecutionStepException):
        await execution.execute(reply(execution, "t"), autocommit=False)
    await repository.store(execution)
    await execution.execute(reply(execution, "p", services=("payment", "bank")), autocommit=False)
    await repository.store(execution)

    assert [parts.document for parts in repository.written][-1] == whole(execution)
    assert [len(parts.steps) for parts in repository.written] == [0, 1, 2]
    assert [parts.unchanged for parts in repository.written] == [0, 0, 1]
    assert [parts.base for parts in repository.written] == [None, *(parts.revision for parts in repository.written[:2])]
    assert json.loads(repository.written[-1].state)["status"] == "finished"


async def test_parts_of_conditional_steps_join_into_the_whole_document(broker_publisher):
    repository = RecordingRepository()
    execution = await paused(conditional_definition(), SagaContext(amount=20))
    await repository.store(execution)
    assert repository.written[-1].document == whole(execution)
    loaded = await repository.load(execution.uuid)
    await loaded.execute(reply(loaded, "p"), autocommit=False)
    await repository.store(loaded)
    assert repository.written[-1].document == whole(loaded)
    assert whole(await repository.load(execution.uuid)) == whole(loaded)


async def test_a_compensation_counts_no_step_unchanged(broker_publisher):
    definition = Saga().local_step(add_order).on_failure(delete_order).local_step(add_amount)
    repository = RecordingRepository()
    execution = await paused(definition.remote_step(send_create_ticket).commit(), SagaContext(amount=1))
    await repository.store(execution)
    loaded = await repository.load(execution.uuid)
    await repository.store(loaded)

    await loaded.rollback(autoreject=False)
    await repository.store(loaded)

    assert [parts.unchanged for parts in repository.written] == [0, 2, 0]
    assert repository.written[-1].document == whole(loaded)
    assert whole(await repository.load(execution.uuid)) == whole(loaded)


async def test_parameters_changed_after_a_store_count_their_step_changed(broker_publisher):
    definition = Saga().local_step(add_amount, amount=5).remote_step(send_create_ticket).commit()
    repository = RecordingRepository()
    execution = await paused(definition, SagaContext(amount=1))
    await repository.store(execution)

    definition.steps[0].on_execute_operation.parameters["amount"] = 7
    await repository.store(execution)

    assert repository.written[-1].unchanged == 0
    assert repository.written[-1].definition != repository.written[0].definition
    assert repository.written[-1].document == whole(execution)


def test_first_changed_trusts_unchanged_only_over_its_base():
    parts = SagaExecutionParts(UUID(int=1), "{}", "{}", ("a", "b"), "r2", unchanged=1, base="r1")
    assert parts.first_changed("r1") == 1
    assert parts.first_changed("r0") == 0
    assert parts.first_changed(None) == 0
    assert SagaExecutionParts(UUID(int=1), "{}", "{}", (), "r1").first_changed(None) == 0


async def test_a_value_that_cannot_be_stored_is_refused_before_the_repository_is_touched(broker_publisher):
    repository = RecordingRepository()
    execution = await paused(two_remote_definition())
    assert execution.paused_step is not None
    execution.paused_step.related_services.add("a\x00b")
    with pytest.raises(SagaExecutionNotStorableException):
        await repository.store(execution)
    execution.context["values"] = (1, 2)  # a tuple: contexts cannot encode it
    with pytest.raises(SagaExecutionNotStorableException):
        await repository.store(execution)
    assert repository.written == []


async def test_loads_share_the_parse_of_the_definition_and_build_each_step_of_its_own(broker_publisher):
    definition = Saga().remote_step(send_create_ticket).remote_step(send_create_ticket).commit()
    repository = InMemorySagaExecutionRepository()
    execution = await paused(definition)
    with pytest.raises(SagaPausedExecutionStepException):
        await execution.execute(reply(execution, "t"), autocommit=False)
    await repository.store(execution)

    first, second = [await repository.load(execution.uuid) for _ in range(2)]

    assert first.definition is second.definition
    assert first.executed_steps == second.executed_steps and first.executed_steps[0] is not second.executed_steps[0]
    assert first.paused_step is not None and first.paused_step.definition is first.definition.steps[1]
    assert first.executed_steps[0].definition is first.definition.steps[0]
    assert first == execution and first.status == SagaStatus.Paused


class PartsRepository(IncrementalSagaExecutionRepository):
    """Returns the parts it was primed with."""

    def __init__(self, parts: SagaExecutionParts) -> None:
        super().__init__()
        self.parts = parts

    async def _write_parts(self, parts: SagaExecutionParts) -> None:
        self.parts = parts

    async def _read_parts(self, uuid: UUID) -> SagaExecutionParts:
        return self.parts

    async def _delete(self, uuid: UUID) -> None:
        raise NotImplementedError


@pytest.mark.parametrize(
    "change",
    [
        {"state": "not json"},
        {"state": "[]"},
        {"definition": '{"steps": 3}'},
        {"steps": ('{"cls": "no.such.Step"}',)},
        {"steps": ("{",)},
    ],
)
async def test_bad_parts_raise_a_format_error(broker_publisher, change):
    repository = RecordingRepository()
    execution = await paused(two_remote_definition())
    await repository.store(execution)
    good = repository.written[-1]
    bad = SagaExecutionParts(
        good.uuid,
        change.get("definition", good.definition),
        change.get("state", good.state),
        change.get("steps", good.steps),
        good.revision,
    )
    with pytest.raises(SagaExecutionFormatException):
        await PartsRepository(bad).load(good.uuid)
