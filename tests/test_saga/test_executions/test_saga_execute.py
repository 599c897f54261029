"""SagaExecution.execute: local and remote steps, pause, resume, failures and terminal states."""

from __future__ import annotations

from uuid import uuid4

import pytest

from minos.saga import (
    LocalSagaStepExecution,
    RemoteSagaStepExecution,
    Saga,
    SagaCallbackReturnTypeException,
    SagaContext,
    SagaExecution,
    SagaExecutionAlreadyExecutedException,
    SagaFailedExecutionException,
    SagaFailedExecutionStepException,
    SagaPausedExecutionStepException,
    SagaResponse,
    SagaResponseException,
    SagaStatus,
    SagaStepStatus,
)
from tests.test_saga.test_executions.helpers import (
    paused,
    remote_definition,
    reply,
    two_remote_definition,
)
from tests.test_saga.utils import (
    add_amount,
    add_order,
    async_mark,
    delete_order,
    handle_raising,
    handle_returning_exception,
    handle_ticket,
    handle_wrong_type,
    mutate_then_fail,
    return_dict,
    return_int,
    return_none,
    send_create_ticket,
    send_delete_ticket,
    send_failing,
    send_wrong_type,
    topics,
)

pytestmark = pytest.mark.usefixtures("injector")


# -- local steps --------------------------------------------------------------------------------------------------


async def test_local_saga_finishes():
    definition = Saga().local_step(add_order).local_step(add_amount, amount=3).local_step(async_mark).commit()
    execution = SagaExecution.from_definition(definition, SagaContext(amount=1))
    context = await execution.execute(autocommit=False)
    assert context == SagaContext(amount=4, order="created", **{"async": True})
    assert execution.context == context
    assert execution.status == SagaStatus.Finished
    assert [step.status for step in execution.executed_steps] == [SagaStepStatus.Finished] * 3
    assert all(isinstance(step, LocalSagaStepExecution) for step in execution.executed_steps)


async def test_local_returning_none_keeps_context():
    # as in 0.7.0: None keeps the context the callback was given, with its in-place changes
    execution = SagaExecution.from_definition(Saga().local_step(return_none).commit(), SagaContext(a=1))
    assert await execution.execute(autocommit=False) == SagaContext(a=1, ignored=True)


async def test_local_failure_leaves_context_and_compensates(broker_publisher):
    definition = Saga().local_step(add_amount).on_failure(delete_order).local_step(mutate_then_fail).commit()
    execution = SagaExecution.from_definition(definition, SagaContext(order="new"))
    with pytest.raises(SagaFailedExecutionStepException) as info:
        await execution.execute(autocommit=False)
    assert isinstance(info.value, SagaFailedExecutionException)
    assert isinstance(info.value.exception, ValueError)
    assert execution.status == SagaStatus.Errored
    assert execution.already_rollback is True
    # the failing step's change is not kept; the first step's compensation ran on the context
    assert execution.context == SagaContext(order="deleted", amount=1)
    assert len(execution.executed_steps) == 1
    assert execution.paused_step is None


async def test_local_returning_a_dict_as_last_step_is_the_result():
    # as in 0.7.0 (a common pattern), with a warning: the value becomes the context and the saga finishes
    execution = SagaExecution.from_definition(Saga().local_step(add_order).local_step(return_dict).commit())
    with pytest.warns(RuntimeWarning, match="local callback returned"):
        assert await execution.execute(autocommit=False) == {"a": 1}
    assert execution.status == SagaStatus.Finished
    assert execution.context == {"a": 1}
    assert SagaExecution.from_raw(execution.raw).context == SagaContext(a=1)


async def test_local_returning_a_dict_feeds_the_next_step_a_context(broker_publisher):
    definition = Saga().local_step(return_dict).remote_step(send_create_ticket).on_success(handle_ticket).commit()
    execution = SagaExecution.from_definition(definition)
    with pytest.warns(RuntimeWarning), pytest.raises(SagaPausedExecutionStepException):
        await execution.execute(autocommit=False)
    stored = SagaExecution.from_raw(execution.raw)
    assert await stored.execute(reply(stored, "t1"), autocommit=False) == SagaContext(a=1, ticket="t1")


async def test_local_returning_something_else_fails_the_next_step():
    execution = SagaExecution.from_definition(Saga().local_step(return_int).local_step(add_order).commit())
    with pytest.warns(RuntimeWarning), pytest.raises(SagaFailedExecutionStepException) as info:
        await execution.execute(autocommit=False)
    assert isinstance(info.value.exception, TypeError)
    assert execution.status == SagaStatus.Errored


# -- remote steps -------------------------------------------------------------------------------------------------


async def test_remote_pauses_and_publishes(broker_publisher):
    execution = await paused(remote_definition())
    assert execution.status == SagaStatus.Paused
    assert isinstance(execution.paused_step, RemoteSagaStepExecution)
    assert execution.paused_step.status == SagaStepStatus.PausedByOnExecute
    assert len(execution.executed_steps) == 1
    assert execution.context == SagaContext(order="created")
    assert topics(broker_publisher) == ["CreateTicket"]
    message = broker_publisher.messages[0]
    assert message.content == {"order": "created"}
    assert message.headers["saga"] == str(execution.uuid)
    assert message.headers["transactions"] == str(execution.uuid)
    assert message.reply_topic == "orderReply"


async def test_resume_200_runs_on_success(broker_publisher):
    execution = await paused(remote_definition())
    context = await execution.execute(reply(execution, "t1"), autocommit=False)
    assert context == SagaContext(order="created", ticket="t1")
    assert execution.status == SagaStatus.Finished
    assert execution.paused_step is None
    step = execution.executed_steps[-1]
    assert step.status == SagaStepStatus.Finished
    assert step.related_services == {"order", "ticket"}


async def test_resume_400_runs_on_error():
    execution = await paused(remote_definition())
    context = await execution.execute(reply(execution, "nope", 400), autocommit=False)
    assert context == SagaContext(order="created", error="nope")
    assert execution.status == SagaStatus.Finished


async def test_resume_400_without_on_error_keeps_context():
    definition = Saga().remote_step(send_create_ticket).on_success(handle_ticket).commit()
    execution = await paused(definition, SagaContext(a=1))
    assert await execution.execute(reply(execution, "x", 400), autocommit=False) == SagaContext(a=1)
    assert execution.status == SagaStatus.Finished


async def test_resume_200_without_on_success_keeps_context():
    execution = await paused(Saga().remote_step(send_create_ticket).commit(), SagaContext(a=1))
    assert await execution.execute(reply(execution), autocommit=False) == SagaContext(a=1)


async def test_resume_500_fails_and_compensates(broker_publisher):
    execution = await paused(remote_definition())
    with pytest.raises(SagaFailedExecutionStepException) as info:
        await execution.execute(reply(execution, "boom", 500), autocommit=False)
    assert isinstance(info.value.exception, SagaResponseException)
    assert execution.status == SagaStatus.Errored
    assert execution.paused_step is None
    # the remote request failed on the participant: only the local step is compensated
    assert execution.context == SagaContext(order="deleted")
    assert topics(broker_publisher) == ["CreateTicket"]


@pytest.mark.parametrize("callback", [handle_raising, handle_returning_exception])
async def test_on_success_failure_compensates_that_step(broker_publisher, callback):
    definition = Saga().local_step(add_order).on_failure(delete_order)
    definition = definition.remote_step(send_create_ticket).on_success(callback).on_failure(send_delete_ticket)
    definition = definition.commit()
    execution = await paused(definition)
    with pytest.raises(SagaFailedExecutionStepException) as info:
        await execution.execute(reply(execution), autocommit=False)
    assert isinstance(info.value.exception, ValueError)
    assert execution.status == SagaStatus.Errored
    assert topics(broker_publisher) == ["CreateTicket", "DeleteTicket"]
    assert broker_publisher.messages[1].headers["saga"] == str(execution.uuid)
    assert execution.context == SagaContext(order="deleted")


async def test_on_error_failure_compensates_that_step(broker_publisher):
    definition = Saga().remote_step(send_create_ticket).on_error(handle_raising).on_failure(send_delete_ticket)
    execution = await paused(definition.commit())
    with pytest.raises(SagaFailedExecutionStepException):
        await execution.execute(reply(execution, status=400), autocommit=False)
    assert topics(broker_publisher) == ["CreateTicket", "DeleteTicket"]
    assert execution.status == SagaStatus.Errored


async def test_on_success_wrong_return_type():
    definition = Saga().remote_step(send_create_ticket).on_success(handle_wrong_type).commit()
    execution = await paused(definition)
    with pytest.raises(SagaFailedExecutionStepException) as info:
        await execution.execute(reply(execution), autocommit=False)
    assert isinstance(info.value.exception, SagaCallbackReturnTypeException)


async def test_request_wrong_return_type(broker_publisher):
    execution = SagaExecution.from_definition(Saga().remote_step(send_wrong_type).commit())
    with pytest.raises(SagaFailedExecutionStepException) as info:
        await execution.execute(autocommit=False)
    assert isinstance(info.value.exception, SagaCallbackReturnTypeException)
    assert execution.status == SagaStatus.Errored
    assert broker_publisher.messages == []


async def test_request_callback_failure(broker_publisher):
    definition = Saga().local_step(add_order).on_failure(delete_order).remote_step(send_failing).commit()
    execution = SagaExecution.from_definition(definition)
    with pytest.raises(SagaFailedExecutionStepException) as info:
        await execution.execute(autocommit=False)
    assert isinstance(info.value.exception, ValueError)
    assert execution.context == SagaContext(order="deleted")
    assert broker_publisher.messages == []


async def test_two_remote_steps(broker_publisher):
    execution = await paused(two_remote_definition(), SagaContext(amount=2))
    with pytest.raises(SagaPausedExecutionStepException):
        await execution.execute(reply(execution, "t"), autocommit=False)
    assert len(execution.executed_steps) == 1
    assert topics(broker_publisher) == ["CreateTicket", "CreatePayment"]
    assert await execution.execute(reply(execution, "p"), autocommit=False) == SagaContext(
        amount=2, ticket="t", payment="p"
    )


async def test_response_for_another_execution_is_refused():
    from minos.saga import SagaResponseMismatchException

    execution = await paused(remote_definition())
    with pytest.raises(SagaResponseMismatchException):
        await execution.execute(SagaResponse("x", uuid=uuid4()), autocommit=False)
    assert execution.status == SagaStatus.Paused


# -- terminal states ----------------------------------------------------------------------------------------------


async def test_finished_cannot_execute_again():
    execution = SagaExecution.from_definition(Saga().local_step(add_order).commit())
    await execution.execute(autocommit=False)
    with pytest.raises(SagaExecutionAlreadyExecutedException):
        await execution.execute(autocommit=False)
    with pytest.raises(SagaExecutionAlreadyExecutedException):
        await execution.execute(SagaResponse("x", uuid=execution.uuid), autocommit=False)


async def test_errored_without_response_raises_and_with_response_returns_context():
    execution = SagaExecution.from_definition(Saga().local_step(mutate_then_fail).commit(), SagaContext(a=1))
    with pytest.raises(SagaFailedExecutionStepException):
        await execution.execute(autocommit=False)
    with pytest.raises(SagaExecutionAlreadyExecutedException):
        await execution.execute(autocommit=False)
    assert await execution.execute(SagaResponse("late", uuid=execution.uuid), autocommit=False) == SagaContext(a=1)
    assert execution.status == SagaStatus.Errored
