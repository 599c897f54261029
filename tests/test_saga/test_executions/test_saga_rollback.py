"""SagaExecution.rollback, commit and reject."""

from __future__ import annotations

import asyncio

import pytest

from minos.saga import (
    Saga,
    SagaContext,
    SagaExecution,
    SagaFailedCommitCallbackException,
    SagaFailedExecutionStepException,
    SagaRollbackExecutionException,
    SagaStatus,
    SagaStepStatus,
)
from tests.test_saga.test_executions.helpers import (
    FailingPublisher,
    paused,
    remote_definition,
    reply,
)
from tests.test_saga.utils import (
    add_amount,
    add_order,
    answer_reserves,
    delete_order,
    fail_local,
    mutate_then_fail,
    responder,
    ticket_steps,
    topics,
)

pytestmark = pytest.mark.usefixtures("injector")


# -- rollback -----------------------------------------------------------------------------------------------------


async def test_rollback_newest_first_keeps_compensation_contexts(broker_publisher):
    definition = ticket_steps().local_step(add_amount).on_failure(add_amount, amount=10).commit()
    execution = await paused(definition)
    await execution.execute(reply(execution), autocommit=False)
    assert execution.status == SagaStatus.Finished
    await execution.rollback(autoreject=False)
    assert execution.already_rollback is True
    # newest first: amount+10 (local), DeleteTicket published with the context then, order deleted
    assert execution.context == SagaContext(order="deleted", ticket="t1", amount=11)
    delete = broker_publisher.messages[-1]
    assert delete.topic == "DeleteTicket"
    assert delete.content == {"order": "created"}
    with pytest.raises(SagaRollbackExecutionException):
        await execution.rollback(autoreject=False)


async def test_rollback_failed_compensation_runs_others_then_raises():
    definition = (
        Saga().local_step(add_order).on_failure(delete_order).local_step(add_amount).on_failure(fail_local).commit()
    )
    execution = SagaExecution.from_definition(definition)
    await execution.execute(autocommit=False)
    with pytest.raises(SagaRollbackExecutionException):
        await execution.rollback(autoreject=False)
    assert execution.context["order"] == "deleted"
    assert execution.executed_steps[1].status == SagaStepStatus.ErroredOnFailure
    assert execution.already_rollback is True


async def test_rollback_autoreject_sends_reject(broker_publisher):
    execution = SagaExecution.from_definition(Saga().local_step(add_order).commit())
    await execution.execute(autocommit=False)
    await execution.rollback()
    assert topics(broker_publisher) == ["_RejectOrderTransaction"]
    assert broker_publisher.messages[0].content == execution.uuid


async def test_failure_with_autocommit_rejects(broker_publisher):
    definition = Saga().local_step(add_order).local_step(mutate_then_fail).commit()
    execution = SagaExecution.from_definition(definition)
    with pytest.raises(SagaFailedExecutionStepException):
        await execution.execute()
    assert topics(broker_publisher) == ["_RejectOrderTransaction"]


async def test_reject_after_remote(broker_publisher):
    execution = await paused(remote_definition())
    await execution.execute(reply(execution), autocommit=False)
    await execution.reject()
    assert topics(broker_publisher)[1:] == ["_RejectOrderTransaction", "_RejectTicketTransaction"]
    assert all(message.content == execution.uuid for message in broker_publisher.messages[1:])


# -- commit -------------------------------------------------------------------------------------------------------


async def test_commit_only_when_finished():
    execution = await paused(remote_definition())
    with pytest.raises(ValueError):
        await execution.commit()
    with pytest.raises(ValueError):
        await SagaExecution.from_definition(remote_definition()).commit()


async def test_autocommit_round_ok(broker_publisher, reserves_ok):
    execution = await paused(remote_definition())
    await asyncio.wait_for(execution.execute(reply(execution)), 2)
    assert execution.status == SagaStatus.Finished
    assert sorted(message.topic for message in reserves_ok) == ["_ReserveOrderTransaction", "_ReserveTicketTransaction"]
    assert topics(broker_publisher)[-2:] == ["_CommitOrderTransaction", "_CommitTicketTransaction"]
    assert all(message.content == execution.uuid for message in broker_publisher.messages[1:])


async def test_commit_refused(broker_publisher, broker_pool):
    execution = await paused(remote_definition())
    await execution.execute(reply(execution), autocommit=False)
    async with responder(broker_publisher, answer_reserves(400)):
        with pytest.raises(SagaFailedCommitCallbackException):
            await asyncio.wait_for(execution.commit(), 2)
    assert execution.status == SagaStatus.Errored
    assert execution.already_rollback is True
    published = topics(broker_publisher)
    assert "_RejectOrderTransaction" in published and "_RejectTicketTransaction" in published
    assert not any(topic.startswith("_Commit") for topic in published)
    assert "DeleteTicket" in published
    assert execution.context["order"] == "deleted"


async def test_reject_when_the_broker_cannot_send():
    execution = SagaExecution.from_definition(Saga().local_step(add_order).commit())
    await execution.execute(autocommit=False)
    with pytest.raises(SagaFailedCommitCallbackException) as info:
        await execution.reject(broker_publisher=FailingPublisher())
    assert isinstance(info.value.exception, ConnectionError)


async def test_rollback_when_the_broker_cannot_send_rejects():
    execution = SagaExecution.from_definition(Saga().local_step(add_order).on_failure(delete_order).commit())
    await execution.execute(autocommit=False)
    with pytest.raises(SagaRollbackExecutionException):
        await execution.rollback(broker_publisher=FailingPublisher())
    assert execution.already_rollback is True
    assert execution.context == SagaContext(order="deleted")  # the compensation ran before the reject failed
    with pytest.raises(SagaRollbackExecutionException):
        await execution.rollback()


async def test_commit_refused_whose_rollback_fails_leaves_the_execution_errored(broker_publisher, broker_pool):
    execution = SagaExecution.from_definition(Saga().local_step(add_order).on_failure(fail_local).commit())
    await execution.execute(autocommit=False)
    async with responder(broker_publisher, answer_reserves(400)):
        with pytest.raises(SagaRollbackExecutionException):
            await asyncio.wait_for(execution.commit(), 2)
    assert execution.status == SagaStatus.Errored
    assert execution.already_rollback is True
