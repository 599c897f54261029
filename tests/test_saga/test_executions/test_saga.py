"""State transitions of SagaExecution: execute, pause, resume, failures, rollback, commit and reject."""

from __future__ import annotations

import asyncio
from uuid import UUID, uuid4

import pytest
from minos.networks import InMemoryBrokerPublisher

from minos.saga import (
    AlreadyCommittedException,
    ConditionalSagaStepExecution,
    LocalSagaStepExecution,
    RemoteSagaStepExecution,
    Saga,
    SagaCallbackReturnTypeException,
    SagaContext,
    SagaExecution,
    SagaExecutionAlreadyExecutedException,
    SagaFailedCommitCallbackException,
    SagaFailedExecutionException,
    SagaFailedExecutionStepException,
    SagaPausedExecutionStepException,
    SagaResponse,
    SagaResponseException,
    SagaRollbackExecutionException,
    SagaStatus,
    SagaStepStatus,
)
from tests.test_saga.utils import (
    add_amount,
    add_order,
    always,
    answer_reserves,
    async_mark,
    delete_order,
    fail_local,
    handle_error,
    handle_payment,
    handle_raising,
    handle_returning_exception,
    handle_ticket,
    handle_wrong_type,
    is_big,
    is_medium,
    mutate_then_fail,
    responder,
    return_dict,
    return_int,
    return_none,
    send_create_payment,
    send_create_ticket,
    send_delete_payment,
    send_delete_ticket,
    send_failing,
    send_wrong_type,
    topics,
)

pytestmark = pytest.mark.usefixtures("injector")


def remote_definition() -> Saga:
    saga = Saga()
    saga.local_step(add_order).on_failure(delete_order)
    saga.remote_step(send_create_ticket).on_success(handle_ticket).on_error(handle_error).on_failure(send_delete_ticket)
    return saga.commit()


def reply(execution: SagaExecution, content="t1", status=200, services=("ticket",)) -> SagaResponse:
    return SagaResponse(content, set(services), status, execution.uuid)


async def paused(definition: Saga, context: SagaContext | None = None) -> SagaExecution:
    execution = SagaExecution.from_definition(definition, context)
    with pytest.raises(SagaPausedExecutionStepException):
        await execution.execute(autocommit=False)
    return execution


# -- construction -------------------------------------------------------------------------------------------------


def test_from_definition_defaults():
    execution = SagaExecution.from_definition(remote_definition())
    assert execution.status == SagaStatus.Created
    assert execution.context == SagaContext()
    assert isinstance(execution.uuid, UUID)
    assert execution.executed_steps == []
    assert execution.paused_step is None
    assert execution.already_rollback is False
    assert execution.user is None


def test_from_definition_uuid_patchable(monkeypatch):
    fixed = uuid4()
    monkeypatch.setattr("uuid.uuid4", lambda: fixed)
    assert SagaExecution.from_definition(remote_definition()).uuid == fixed


def test_from_saga_is_deprecated():
    with pytest.warns(DeprecationWarning):
        execution = SagaExecution.from_saga(remote_definition(), SagaContext(a=1))
    assert execution.context == SagaContext(a=1)


def test_construction_validates_definition():
    from minos.saga import EmptySagaException, SagaNotCommittedException

    with pytest.raises(EmptySagaException):
        SagaExecution.from_definition(Saga())
    with pytest.raises(SagaNotCommittedException):
        SagaExecution.from_definition(Saga().local_step(add_order).saga)


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


def two_remote_definition() -> Saga:
    return (
        Saga()
        .remote_step(send_create_ticket)
        .on_success(handle_ticket)
        .remote_step(send_create_payment)
        .on_success(handle_payment)
        .commit()
    )


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


# -- rollback -----------------------------------------------------------------------------------------------------


async def test_rollback_newest_first_keeps_compensation_contexts(broker_publisher):
    definition = (
        Saga()
        .local_step(add_order)
        .on_failure(delete_order)
        .remote_step(send_create_ticket)
        .on_success(handle_ticket)
        .on_failure(send_delete_ticket)
        .local_step(add_amount)
        .on_failure(add_amount, amount=10)
        .commit()
    )
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


class FailingPublisher(InMemoryBrokerPublisher):
    async def _send(self, message) -> None:
        raise ConnectionError("the broker is down")


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


# -- conditional steps --------------------------------------------------------------------------------------------


def conditional_definition() -> Saga:
    big = Saga().remote_step(send_create_payment).on_success(handle_payment).on_failure(send_delete_payment).commit()
    medium = Saga().local_step(add_amount, amount=100).on_failure(add_amount, amount=1000).commit()
    other = Saga().local_step(add_order).commit()
    saga = Saga()
    saga.conditional_step().if_then(is_big, big).if_then(is_medium, medium).else_then(other)
    return saga.commit()


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


# -- raw ----------------------------------------------------------------------------------------------------------


async def test_raw_round_trip_paused(broker_publisher):
    execution = await paused(conditional_definition(), SagaContext(amount=20))
    loaded = SagaExecution.from_raw(execution.raw)
    assert loaded == execution
    assert await loaded.execute(reply(loaded, "p"), autocommit=False) == SagaContext(amount=20, payment="p")


async def test_raw_fields():
    user = uuid4()
    execution = SagaExecution.from_definition(remote_definition(), SagaContext(a=1), user=user)
    raw = execution.raw
    assert raw["uuid"] == str(execution.uuid)
    assert raw["status"] == "created"
    assert raw["user"] == str(user)
    assert raw["executed_steps"] == [] and raw["paused_step"] is None
    assert SagaContext.from_avro_str(raw["context"]) == SagaContext(a=1)
    assert raw["definition"] == remote_definition().raw


STEP_KEYS = {"cls", "definition", "status", "related_services", "already_rollback"}  # 0.7.0's step document keys
EXECUTION_KEYS = {
    "definition",
    "uuid",
    "status",
    "executed_steps",
    "paused_step",
    "context",
    "already_rollback",
    "user",
}


def answer(execution: SagaExecution, request, content="t1", status=200) -> SagaResponse:
    """The reply to the published ``request`` as minos' dispatcher builds it: with the request's identifier."""
    return SagaResponse(content, {"ticket"}, status, execution.uuid, request_id=request.identifier)


async def test_documents_keep_0_7_0_keys_and_metadata_only_while_paused(broker_publisher):
    execution = await paused(conditional_definition(), SagaContext(amount=20))
    [request] = broker_publisher.messages
    raw = execution.raw
    assert set(raw) == EXECUTION_KEYS | {"orchestrator"}
    assert raw["orchestrator"] == {"format": 2, "awaiting": str(request.identifier)}
    assert set(raw["paused_step"]) == STEP_KEYS | {"inner"}
    assert set(raw["paused_step"]["inner"]) == EXECUTION_KEYS
    assert set(raw["paused_step"]["inner"]["paused_step"]) == STEP_KEYS

    await execution.execute(answer(execution, request), autocommit=False)
    assert execution.status == SagaStatus.Finished
    assert set(execution.raw) == EXECUTION_KEYS


async def test_the_awaited_request_survives_a_reload_and_equality_ignores_it(broker_publisher):
    execution = await paused(conditional_definition(), SagaContext(amount=20))
    [request] = broker_publisher.messages
    loaded = SagaExecution.from_raw(execution.raw)
    assert loaded.awaited_request == request.identifier
    without = SagaExecution.from_raw({key: value for key, value in execution.raw.items() if key != "orchestrator"})
    assert without.awaited_request is None and without == loaded


async def test_a_duplicated_reply_is_not_applied_to_the_next_step(broker_publisher):
    execution = await paused(two_remote_definition(), SagaContext(amount=2))
    first = broker_publisher.messages[-1]
    with pytest.raises(SagaPausedExecutionStepException):
        await execution.execute(answer(execution, first, "t"), autocommit=False)
    execution = SagaExecution.from_raw(execution.raw)
    from minos.saga import SagaResponseMismatchException

    with pytest.raises(SagaResponseMismatchException):
        await execution.execute(answer(execution, first, "t again"), autocommit=False)
    assert execution.status == SagaStatus.Paused and "payment" not in execution.context
    second = broker_publisher.messages[-1]
    assert second.topic == "CreatePayment" and "saga_request" not in second.headers
    await execution.execute(answer(execution, second, "p"), autocommit=False)
    assert execution.context == SagaContext(amount=2, ticket="t", payment="p")


def test_from_raw_newer_version_raises():
    from minos.saga import SagaExecutionFormatException

    raw = SagaExecution.from_definition(remote_definition()).raw
    raw["orchestrator"] = {"format": 999}
    with pytest.raises(SagaExecutionFormatException):
        SagaExecution.from_raw(raw)


@pytest.mark.parametrize("key", ["definition", "uuid", "status", "context"])
def test_from_raw_missing_key(key):
    from minos.saga import SagaExecutionFormatException

    raw = SagaExecution.from_definition(remote_definition()).raw
    del raw[key]
    with pytest.raises(SagaExecutionFormatException):
        SagaExecution.from_raw(raw)


def test_from_raw_unknown_step_class():
    from minos.saga import SagaExecutionFormatException

    raw = SagaExecution.from_definition(remote_definition()).raw
    raw["executed_steps"] = [
        {
            "cls": "tests.nowhere.Step",
            "definition": raw["definition"]["steps"][0],
            "status": "finished",
            "related_services": ["order"],
            "already_rollback": False,
        }
    ]
    with pytest.raises(SagaExecutionFormatException):
        SagaExecution.from_raw(raw)


# -- equality -----------------------------------------------------------------------------------------------------


async def test_equality_and_iteration_ignore_the_paused_step():
    uuid = uuid4()
    running = await paused(remote_definition())
    same_but_not_paused = SagaExecution.from_definition(remote_definition(), uuid=running.uuid)
    same_but_not_paused.status = running.status
    same_but_not_paused.executed_steps = running.executed_steps
    same_but_not_paused.context = running.context
    assert running.paused_step is not None and same_but_not_paused.paused_step is None
    assert running == same_but_not_paused
    assert list(running)[:7] == [  # then what this package adds (the reservations of a two-phase commit)
        running.definition,
        running.uuid,
        running.status,
        running.executed_steps,
        running.context,
        running.already_rollback,
        running.user,
    ]
    assert all(part is not running.paused_step for part in running)
    assert running != SagaExecution.from_definition(remote_definition(), uuid=uuid)


def test_executions_loaded_from_one_document_cannot_change_their_definition():
    raw = SagaExecution.from_definition(Saga().local_step(add_order).commit(), SagaContext()).raw
    first, second = SagaExecution.from_raw(raw), SagaExecution.from_raw(raw)
    with pytest.raises(AlreadyCommittedException):
        first.definition.steps[0].on_failure(delete_order)
    assert second.definition == first.definition == Saga().local_step(add_order).commit()
    assert second.definition.steps[0].on_failure_operation is None
