"""storable_document: the stored JSON text is always that of the execution's raw document, while the text of parts
that did not change is reused from one store to the next (a step compensated, parameters changed, ...)."""

from __future__ import annotations

import json

import pytest

from minos.saga import Saga, SagaContext, SagaExecution, SagaPausedExecutionStepException, SagaStatus
from minos.saga.executions._saga_document import storable_document
from tests.test_saga.test_executions.helpers import (
    conditional_definition,
    paused,
    reply,
    two_remote_definition,
)
from tests.test_saga.utils import add_amount, add_order, delete_order, send_create_ticket

pytestmark = pytest.mark.usefixtures("injector")


def assert_text_of_raw(execution: SagaExecution) -> None:
    assert storable_document(execution) == json.dumps(execution.raw, ensure_ascii=False)


async def test_the_text_follows_each_pause_of_an_execution_stored_again_and_again(broker_publisher):
    execution = await paused(two_remote_definition(), SagaContext(amount=2, note="café ☕"))
    assert_text_of_raw(execution)
    with pytest.raises(SagaPausedExecutionStepException):
        await execution.execute(reply(execution, "t"), autocommit=False)
    assert_text_of_raw(execution)
    await execution.execute(reply(execution, "p", services=("payment", "bank")), autocommit=False)
    assert execution.status == SagaStatus.Finished
    assert_text_of_raw(execution)


async def test_the_text_follows_the_compensation_of_stored_steps(broker_publisher):
    definition = (
        Saga()
        .local_step(add_order)
        .on_failure(delete_order)
        .local_step(add_amount)
        .remote_step(send_create_ticket)
        .commit()
    )
    execution = await paused(definition, SagaContext(amount=1))
    assert_text_of_raw(execution)

    await execution.rollback(autoreject=False)

    assert execution.executed_steps[0].already_rollback
    assert_text_of_raw(execution)


async def test_the_text_follows_parameters_changed_after_a_store(broker_publisher):
    definition = Saga().local_step(add_amount, amount=5).remote_step(send_create_ticket).commit()
    execution = await paused(definition, SagaContext(amount=1))
    before = storable_document(execution)

    definition.steps[0].on_execute_operation.parameters["amount"] = 7

    assert storable_document(execution) != before
    assert_text_of_raw(execution)


async def test_the_text_of_an_execution_with_conditional_steps(broker_publisher):
    execution = await paused(conditional_definition(), SagaContext(amount=20))
    assert_text_of_raw(execution)
    await execution.execute(reply(execution, "p"), autocommit=False)
    assert_text_of_raw(execution)


async def test_executions_of_one_definition_each_get_the_text_of_their_own_steps(broker_publisher):
    definition = two_remote_definition()
    executions = [await paused(definition, SagaContext(amount=1)) for _ in range(2)]
    for execution, services in zip(executions, [("ticket",), ("ticket", "audit")]):
        with pytest.raises(SagaPausedExecutionStepException):
            await execution.execute(reply(execution, "t", services=services), autocommit=False)
    for execution in executions + [SagaExecution.from_raw(execution.raw) for execution in executions]:
        assert_text_of_raw(execution)
