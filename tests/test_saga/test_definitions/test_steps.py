"""Step definitions: callbacks, validation, chaining and conditional alternatives."""

from __future__ import annotations

import pytest

from minos.saga import (
    ConditionalSagaStep,
    EmptySagaStepException,
    LocalSagaStep,
    MultipleElseThenException,
    MultipleOnErrorException,
    MultipleOnExecuteException,
    MultipleOnFailureException,
    MultipleOnSuccessException,
    RemoteSagaStep,
    Saga,
    SagaCallbackException,
    SagaNotDefinedException,
    SagaStep,
    SagaStepException,
    UndefinedOnExecuteException,
)
from tests.test_saga.utils import (
    add_order,
    delete_order,
    handle_error,
    handle_ticket,
    is_big,
    send_create_ticket,
    send_delete_ticket,
)


def test_remote_multiple_callbacks():
    step = RemoteSagaStep(send_create_ticket).on_success(handle_ticket).on_error(handle_error)
    step.on_failure(send_delete_ticket)
    for method, exc in [
        (step.on_execute, MultipleOnExecuteException),
        (step.on_success, MultipleOnSuccessException),
        (step.on_error, MultipleOnErrorException),
        (step.on_failure, MultipleOnFailureException),
    ]:
        with pytest.raises(exc):
            method(handle_ticket)


def test_local_multiple_callbacks():
    step = LocalSagaStep(add_order).on_failure(delete_order)
    with pytest.raises(MultipleOnExecuteException):
        step.on_execute(add_order)
    with pytest.raises(MultipleOnFailureException):
        step.on_failure(add_order)


def test_non_callable_callback():
    with pytest.raises(SagaCallbackException):
        RemoteSagaStep().on_execute(42)
    with pytest.raises(SagaCallbackException):
        LocalSagaStep().on_failure("x")


def test_validation_on_chaining():
    with pytest.raises(EmptySagaStepException):
        Saga().remote_step().local_step(add_order)
    with pytest.raises(EmptySagaStepException):
        Saga().local_step().commit()
    with pytest.raises(UndefinedOnExecuteException):
        Saga().remote_step().on_success(handle_ticket).commit()
    with pytest.raises(EmptySagaStepException):
        Saga().conditional_step().commit()
    with pytest.raises(SagaNotDefinedException):
        LocalSagaStep(add_order).local_step(add_order)


def test_step_chaining_delegates():
    saga = Saga().local_step(add_order).remote_step(send_create_ticket).commit()
    assert isinstance(saga, Saga) and len(saga.steps) == 2


def test_conditional():
    inner = Saga().local_step(add_order).commit()
    step = ConditionalSagaStep().if_then(is_big, inner).if_then(is_big, inner).else_then(inner)
    assert len(step.if_then_alternatives) == 2
    with pytest.raises(MultipleElseThenException):
        step.else_then(inner)
    with pytest.raises(SagaStepException):
        ConditionalSagaStep().if_then(is_big, "not a saga")
    step.validate()


def test_conditional_invalid_inner():
    step = ConditionalSagaStep().if_then(is_big, Saga().local_step(add_order).saga)
    from minos.saga import SagaNotCommittedException

    with pytest.raises(SagaNotCommittedException):
        step.validate()


@pytest.mark.parametrize(
    "step",
    [
        LocalSagaStep(add_order, delete_order),
        RemoteSagaStep(send_create_ticket, handle_ticket, handle_error, send_delete_ticket),
        ConditionalSagaStep().if_then(is_big, Saga().local_step(add_order).commit()),
        ConditionalSagaStep().else_then(Saga().local_step(add_order).commit()),
    ],
)
def test_raw_round_trip(step):
    assert SagaStep.from_raw(step.raw) == step
    assert type(step).from_raw(step.raw) == step
    without_cls = {key: value for key, value in step.raw.items() if key != "cls"}
    assert type(step).from_raw(without_cls) == step  # the class it is called on


def test_raw_wrong_base():
    from minos.saga import SagaDefinitionFormatException

    with pytest.raises(SagaDefinitionFormatException):
        LocalSagaStep.from_raw(RemoteSagaStep(send_create_ticket).raw)


@pytest.mark.parametrize("step", [LocalSagaStep(), RemoteSagaStep(), ConditionalSagaStep()])
def test_validate_without_any_callback_is_empty(step):
    with pytest.raises(EmptySagaStepException):
        step.validate()
    saga = Saga()
    saga.steps.append(step)
    with pytest.raises(EmptySagaStepException):
        saga.validate()


@pytest.mark.parametrize(
    "step",
    [LocalSagaStep(on_failure=delete_order), RemoteSagaStep(on_success=handle_ticket, on_failure=send_delete_ticket)],
)
def test_validate_callbacks_without_on_execute(step):
    with pytest.raises(UndefinedOnExecuteException):
        step.validate()


def test_from_raw_without_cls_on_the_abstract_class():
    from minos.saga import SagaDefinitionFormatException

    with pytest.raises(SagaDefinitionFormatException):
        SagaStep.from_raw({"on_execute": None})


def test_conditional_from_raw_without_alternatives():
    step = ConditionalSagaStep.from_raw({"cls": "minos.saga.definitions.steps.conditional.ConditionalSagaStep"})
    assert step.if_then_alternatives == [] and step.else_then_alternative is None


@pytest.mark.parametrize(
    "raw",
    [
        {"cls": "minos.saga.definitions.steps.remote.RemoteSagaStep", "on_execute": None},
        {"cls": "minos.saga.SagaContext", "on_execute": None},
        {"cls": "minos.saga.executions.steps.local.LocalSagaStepExecution", "on_execute": None},
    ],
)
def test_from_raw_wrong_kind_of_class_is_a_type_error(raw):
    with pytest.raises(TypeError):
        LocalSagaStep.from_raw(raw)
