"""Step executions: kind selection, statuses, raw documents and compensation guards."""

from __future__ import annotations

from uuid import uuid4

import pytest

from minos.saga import (
    ConditionalSagaStep,
    ConditionalSagaStepExecution,
    LocalSagaStep,
    LocalSagaStepExecution,
    RemoteSagaStep,
    RemoteSagaStepExecution,
    Saga,
    SagaContext,
    SagaExecutionFormatException,
    SagaFailedExecutionStepException,
    SagaPausedExecutionStepException,
    SagaRollbackExecutionStepException,
    SagaStepExecution,
    SagaStepStatus,
)
from tests.test_saga.utils import (
    add_amount,
    add_order,
    always,
    delete_order,
    is_big,
    mutate_then_fail,
    send_create_ticket,
    send_delete_ticket,
)

injected = pytest.mark.usefixtures("injector")


def test_from_definition_kinds():
    assert type(SagaStepExecution.from_definition(LocalSagaStep(add_order))) is LocalSagaStepExecution
    assert type(SagaStepExecution.from_definition(RemoteSagaStep(send_create_ticket))) is RemoteSagaStepExecution
    conditional = ConditionalSagaStep().if_then(is_big, Saga().local_step(add_order).commit())
    assert type(SagaStepExecution.from_definition(conditional)) is ConditionalSagaStepExecution


def test_defaults():
    step = LocalSagaStepExecution(LocalSagaStep(add_order))
    assert step.status == SagaStepStatus.Created
    assert step.related_services == set()
    assert step.already_rollback is False


def test_built_without_any_injection():
    from minos.common import NotProvidedException

    from minos.saga import get_service_name

    with pytest.raises(NotProvidedException):  # no config: nothing is injected in this test
        get_service_name()
    local, remote = LocalSagaStep(add_order), RemoteSagaStep(send_create_ticket)
    conditional = ConditionalSagaStep().if_then(is_big, Saga().local_step(add_order).commit())
    for step in (
        LocalSagaStepExecution(local),
        RemoteSagaStepExecution(remote),
        ConditionalSagaStepExecution(conditional),
        SagaStepExecution.from_definition(local),
        SagaStepExecution.from_raw(LocalSagaStepExecution(local).raw),
    ):
        assert step.related_services == set()
        assert step.raw["related_services"] == []


async def test_the_service_joins_when_the_step_runs(broker_publisher):
    local = LocalSagaStepExecution(LocalSagaStep(add_order))
    await local.execute(SagaContext(), execution_uuid=uuid4())
    remote = RemoteSagaStepExecution(RemoteSagaStep(send_create_ticket))
    with pytest.raises(SagaPausedExecutionStepException):
        await remote.execute(SagaContext(), execution_uuid=uuid4())
    conditional = ConditionalSagaStepExecution(
        ConditionalSagaStep().if_then(always, Saga().local_step(add_order).commit())
    )
    await conditional.execute(SagaContext(), execution_uuid=uuid4())
    assert local.related_services == remote.related_services == conditional.related_services == {"order"}


@injected
async def test_executing_a_finished_local_step_again_does_nothing():
    step = LocalSagaStepExecution(LocalSagaStep(add_amount))
    assert await step.execute(SagaContext(), execution_uuid=uuid4()) == SagaContext(amount=1)
    assert await step.execute(SagaContext(b=2), execution_uuid=uuid4()) == SagaContext(b=2)
    assert step.status == SagaStepStatus.Finished


@pytest.mark.parametrize(
    "step",
    [
        LocalSagaStepExecution(LocalSagaStep(add_order, delete_order)),
        RemoteSagaStepExecution(RemoteSagaStep(send_create_ticket, on_failure=send_delete_ticket)),
        ConditionalSagaStepExecution(ConditionalSagaStep().if_then(always, Saga().local_step(add_order).commit())),
    ],
)
async def test_rolling_back_a_step_that_never_ran_raises_and_publishes_nothing(step, broker_publisher):
    with pytest.raises(SagaRollbackExecutionStepException):
        await step.rollback(SagaContext(), execution_uuid=uuid4())
    assert broker_publisher.messages == []
    assert step.status == SagaStepStatus.Created and step.already_rollback is False


@injected
async def test_conditional_whose_inner_saga_fails_is_errored_by_on_execute():
    step = ConditionalSagaStepExecution(
        ConditionalSagaStep().if_then(always, Saga().local_step(mutate_then_fail).commit())
    )
    with pytest.raises(SagaFailedExecutionStepException) as info:
        await step.execute(SagaContext(), execution_uuid=uuid4())
    assert isinstance(info.value.exception, ValueError)
    assert step.status == SagaStepStatus.ErroredByOnExecute


def test_raw():
    step = LocalSagaStepExecution(LocalSagaStep(add_order), {"order"}, SagaStepStatus.Finished)
    raw = step.raw
    assert raw["cls"] == "minos.saga.executions.steps.local.LocalSagaStepExecution"
    assert raw["status"] == "finished" and raw["related_services"] == ["order"]
    assert SagaStepExecution.from_raw(raw) == step


def test_from_raw_missing_key_and_unknown_class():
    raw = LocalSagaStepExecution(LocalSagaStep(add_order)).raw
    with pytest.raises(SagaExecutionFormatException):
        SagaStepExecution.from_raw({k: v for k, v in raw.items() if k != "status"})
    with pytest.raises(SagaExecutionFormatException):
        SagaStepExecution.from_raw(raw | {"cls": "tests.nowhere.Step"})
    with pytest.raises(SagaExecutionFormatException):
        SagaStepExecution.from_raw(raw | {"cls": "builtins.dict"})


@injected
async def test_local_rollback_twice():
    step = LocalSagaStepExecution(LocalSagaStep(add_order, delete_order))
    context = await step.execute(SagaContext(), execution_uuid=uuid4())
    assert await step.rollback(context, execution_uuid=uuid4()) == SagaContext(order="deleted")
    with pytest.raises(SagaRollbackExecutionStepException):
        await step.rollback(context)


async def test_remote_pause_and_rollback(broker_publisher):
    step = RemoteSagaStepExecution(RemoteSagaStep(send_create_ticket, on_failure=send_delete_ticket))
    with pytest.raises(SagaPausedExecutionStepException):
        await step.execute(SagaContext(), execution_uuid=uuid4())
    assert step.status == SagaStepStatus.PausedByOnExecute
    await step.rollback(SagaContext())
    assert [message.topic for message in broker_publisher.messages] == ["CreateTicket", "DeleteTicket"]
    with pytest.raises(SagaRollbackExecutionStepException):
        await step.rollback(SagaContext())


@pytest.mark.parametrize("cls", [LocalSagaStepExecution, RemoteSagaStepExecution])
def test_from_raw_without_cls_builds_the_concrete_class(cls):
    definition = LocalSagaStep(add_order) if cls is LocalSagaStepExecution else RemoteSagaStep(send_create_ticket)
    step = cls(definition, {"order"}, SagaStepStatus.Finished)
    raw = step.raw
    del raw["cls"]
    assert cls.from_raw(raw) == step


def test_from_raw_without_cls_on_the_abstract_class():
    raw = LocalSagaStepExecution(LocalSagaStep(add_order)).raw
    del raw["cls"]
    with pytest.raises(SagaExecutionFormatException):
        SagaStepExecution.from_raw(raw)


def test_from_raw_optional_keys_take_their_defaults():
    raw = {"definition": LocalSagaStep(add_order).raw, "status": "finished"}
    step = SagaStepExecution.from_raw(raw | {"cls": "minos.saga.executions.steps.local.LocalSagaStepExecution"})
    assert step.related_services == set() and step.already_rollback is False
    assert step.raw["related_services"] == []


@pytest.mark.parametrize(
    "cls", ["minos.saga.executions.steps.remote.RemoteSagaStepExecution", "minos.saga.SagaContext"]
)
def test_from_raw_wrong_kind_of_class_is_a_type_error(cls):
    raw = LocalSagaStepExecution(LocalSagaStep(add_order)).raw | {"cls": cls}
    with pytest.raises(TypeError):
        LocalSagaStepExecution.from_raw(raw)


class AuditedLocalSagaStep(LocalSagaStep):
    """A step kind with no execution class of its own."""


class TracedLocalSagaStep(LocalSagaStep):
    """A step kind that registers its own execution class."""


class TracedLocalSagaStepExecution(LocalSagaStepExecution, executes=TracedLocalSagaStep):
    """The execution registered for ``TracedLocalSagaStep`` by its class statement alone."""


def test_from_definition_uses_the_registered_execution_else_the_base_kind_one():
    traced = SagaStepExecution.from_definition(TracedLocalSagaStep(add_order))
    audited = SagaStepExecution.from_definition(AuditedLocalSagaStep(add_order))
    assert type(traced) is TracedLocalSagaStepExecution
    assert type(audited) is LocalSagaStepExecution
    assert type(SagaStepExecution.from_definition(LocalSagaStep(add_order))) is LocalSagaStepExecution
