"""Saga definitions: building, committing, validating and raw documents."""

from __future__ import annotations

import pytest

from minos.saga import (
    AlreadyCommittedException,
    AlreadyOnSagaException,
    ConditionalSagaStep,
    EmptySagaException,
    LocalSagaStep,
    RemoteSagaStep,
    Saga,
    SagaDefinitionFormatException,
    SagaNotCommittedException,
    SagaOperation,
)
from tests.test_saga.utils import add_order, delete_order, handle_ticket, is_big, send_create_ticket


def definition() -> Saga:
    saga = Saga()
    saga.local_step(add_order).on_failure(delete_order)
    saga.remote_step(send_create_ticket).on_success(handle_ticket)
    saga.conditional_step().if_then(is_big, Saga().local_step(add_order, amount=2).commit())
    return saga.commit()


def test_chaining_and_kinds():
    saga = definition()
    assert [type(step) for step in saga.steps] == [LocalSagaStep, RemoteSagaStep, ConditionalSagaStep]
    assert all(step.saga is saga for step in saga.steps)
    assert saga.committed
    saga.validate()


def test_step_alias_is_deprecated():
    with pytest.warns(DeprecationWarning):
        step = Saga().step(send_create_ticket)
    assert isinstance(step, RemoteSagaStep)


def test_kwargs_become_parameters():
    step = Saga().local_step(add_order, amount=3)
    assert step.on_execute_operation == SagaOperation(add_order, amount=3)


def test_add_to_committed():
    with pytest.raises(AlreadyCommittedException):
        definition().local_step(add_order)
    with pytest.raises(AlreadyCommittedException):
        definition().commit()


def test_steps_of_a_committed_saga_cannot_change():
    saga = definition()
    changes = [
        lambda: saga.steps[0].on_failure(delete_order),
        lambda: saga.steps[1].on_error(handle_ticket),
        lambda: saga.steps[1].on_failure(send_create_ticket),
        lambda: saga.steps[2].if_then(is_big, Saga().local_step(add_order).commit()),
        lambda: saga.steps[2].else_then(Saga().local_step(add_order).commit()),
    ]
    for change in changes:
        with pytest.raises(AlreadyCommittedException, match="committed saga"):
            change()
    assert saga == definition()
    with pytest.raises(AttributeError):
        saga.committed = False  # type: ignore[misc]


def test_a_loaded_committed_saga_cannot_change():
    loaded = Saga.from_raw(definition().raw)
    with pytest.raises(AlreadyCommittedException):
        loaded.steps[0].on_failure(delete_order)


def test_step_on_another_saga():
    step = Saga().local_step(add_order)
    with pytest.raises(AlreadyOnSagaException):
        Saga().local_step(step)


def test_wrong_step_kind():
    with pytest.raises(TypeError):
        Saga().local_step(RemoteSagaStep(send_create_ticket))
    with pytest.raises(TypeError):
        Saga().remote_step(LocalSagaStep(add_order))


def test_commit_callback_deprecated():
    with pytest.warns(DeprecationWarning):
        saga = Saga().local_step(add_order).commit(delete_order)
    assert saga.committed
    assert saga.steps[-1] == LocalSagaStep(delete_order)


def test_validate():
    with pytest.raises(EmptySagaException):
        Saga().validate()
    with pytest.raises(SagaNotCommittedException):
        Saga().local_step(add_order).saga.validate()
    with pytest.raises(EmptySagaException):
        Saga().commit().validate()


def test_raw_round_trip():
    saga = definition()
    raw = saga.raw
    assert raw["committed"] is True
    assert raw["steps"][0]["cls"] == "minos.saga.definitions.steps.local.LocalSagaStep"
    assert raw["steps"][1]["cls"] == "minos.saga.definitions.steps.remote.RemoteSagaStep"
    assert raw["steps"][0]["on_execute"] == {"callback": "tests.test_saga.utils.add_order"}
    assert Saga.from_raw(raw) == saga
    assert Saga.from_raw(saga) is saga


def test_equality():
    assert definition() == definition()
    assert definition() != Saga().local_step(add_order).commit()


@pytest.mark.parametrize(
    "raw",
    [
        {"committed": True},
        "nope",
        {"steps": [{"cls": "tests.nowhere.Step"}], "committed": True},
        {"steps": [{"cls": "builtins.dict"}], "committed": True},
        {"steps": [{"on_execute": None}], "committed": True},
        {"steps": [{"cls": "minos.saga.definitions.steps.local.LocalSagaStep", "on_execute": {}}], "committed": True},
        {
            "steps": [
                {"cls": "minos.saga.definitions.steps.local.LocalSagaStep", "on_execute": {"callback": "tests.x.y"}}
            ],
            "committed": True,
        },
    ],
)
def test_from_raw_bad_documents(raw):
    with pytest.raises(SagaDefinitionFormatException):
        Saga.from_raw(raw)
