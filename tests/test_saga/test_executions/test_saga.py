"""SagaExecution construction and equality."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from minos.saga import (
    AlreadyCommittedException,
    Saga,
    SagaContext,
    SagaExecution,
    SagaStatus,
)
from tests.test_saga.test_executions.helpers import (
    paused,
    remote_definition,
)
from tests.test_saga.utils import (
    add_order,
    delete_order,
)

pytestmark = pytest.mark.usefixtures("injector")


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
