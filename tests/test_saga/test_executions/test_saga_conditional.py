"""SagaExecution of conditional steps."""

from __future__ import annotations

import asyncio
from uuid import uuid4

import pytest

from minos.saga import (
    ConditionalSagaStepExecution,
    Saga,
    SagaContext,
    SagaExecution,
    SagaFailedExecutionStepException,
    SagaPausedExecutionStepException,
    SagaStatus,
    SagaStepStatus,
)
from tests.test_saga.test_executions.helpers import (
    conditional_definition,
    paused,
    remote_definition,
    reply,
)
from tests.test_saga.utils import (
    add_amount,
    add_order,
    always,
    delete_order,
    is_big,
    topics,
)

pytestmark = pytest.mark.usefixtures("injector")


# -- conditional steps --------------------------------------------------------------------------------------------


async def test_conditional_first_match_pauses_and_resumes(broker_publisher):
    execution = await paused(conditional_definition(), SagaContext(amount=20))
    step = execution.paused_step
    assert isinstance(step, ConditionalSagaStepExecution)
    assert step.status == SagaStepStatus.PausedByOnExecute
    assert step.inner.uuid == execution.uuid
    assert step.inner.status == SagaStatus.Paused
    assert topics(broker_publisher) == ["CreatePayment"]
    assert broker_publisher.messages[0].headers["saga"] == str(execution.uuid)
    context = await execution.execute(reply(execution, "p", services=("payment",)), autocommit=False)
    assert context == SagaContext(amount=20, payment="p")
    assert execution.status == SagaStatus.Finished
    assert execution.executed_steps[0].status == SagaStepStatus.Finished


async def test_conditional_second_match():
    execution = SagaExecution.from_definition(conditional_definition(), SagaContext(amount=7))
    assert await execution.execute(autocommit=False) == SagaContext(amount=107)


async def test_conditional_else_then():
    execution = SagaExecution.from_definition(conditional_definition(), SagaContext(amount=1))
    assert await execution.execute(autocommit=False) == SagaContext(amount=1, order="created")


async def test_conditional_no_match_finishes():
    saga = Saga()
    saga.conditional_step().if_then(is_big, Saga().local_step(add_order).commit())
    execution = SagaExecution.from_definition(saga.commit(), SagaContext(amount=1))
    assert await execution.execute(autocommit=False) == SagaContext(amount=1)
    assert execution.status == SagaStatus.Finished
    assert execution.executed_steps[0].status == SagaStepStatus.Finished
    assert execution.executed_steps[0].inner is None


async def test_conditional_inner_shares_user():
    user = uuid4()
    execution = SagaExecution.from_definition(conditional_definition(), SagaContext(amount=20), user=user)
    with pytest.raises(SagaPausedExecutionStepException):
        await execution.execute(autocommit=False)
    assert execution.paused_step.inner.user == user


async def test_conditional_rollback_through_inner(broker_publisher):
    saga = Saga().local_step(add_order).on_failure(delete_order)
    saga.conditional_step().if_then(is_big, conditional_definition()).else_then(
        Saga().local_step(add_amount).on_failure(add_amount, amount=1000).commit()
    )
    execution = SagaExecution.from_definition(saga.commit(), SagaContext(amount=7))
    await execution.execute(autocommit=False)
    assert execution.context == SagaContext(amount=8, order="created")
    await execution.rollback(autoreject=False)
    assert execution.executed_steps[1].already_rollback is True
    assert execution.executed_steps[1].inner.already_rollback is True
    assert execution.context["order"] == "deleted"


async def test_conditional_inner_remote_failure_compensates(broker_publisher):
    saga = Saga().local_step(add_order).on_failure(delete_order)
    saga.conditional_step().if_then(always, remote_definition())
    execution = await paused(saga.commit())
    with pytest.raises(SagaFailedExecutionStepException):
        await execution.execute(reply(execution, status=500), autocommit=False)
    assert execution.status == SagaStatus.Errored
    assert execution.context["order"] == "deleted"


async def test_conditional_transactions_in_commit(broker_publisher, reserves_ok):
    execution = await paused(conditional_definition(), SagaContext(amount=20))
    await asyncio.wait_for(execution.execute(reply(execution, services=("payment",))), 2)
    assert sorted(message.topic for message in reserves_ok) == [
        "_ReserveOrderTransaction",
        "_ReservePaymentTransaction",
    ]
