"""The statuses of executions and steps are stored by the strings 0.7.0 documents hold."""

from __future__ import annotations

import pytest

from minos.saga import SagaStatus, SagaStepStatus

SAGA_STATUSES = {
    SagaStatus.Created: "created",
    SagaStatus.Running: "running",
    SagaStatus.Paused: "paused",
    SagaStatus.Finished: "finished",
    SagaStatus.Errored: "errored",
}
STEP_STATUSES = {
    SagaStepStatus.Created: "created",
    SagaStepStatus.RunningOnExecute: "running-on-execute",
    SagaStepStatus.FinishedOnExecute: "finished-on-execute",
    SagaStepStatus.ErroredOnExecute: "errored-on-execute",
    SagaStepStatus.PausedByOnExecute: "paused-by-on-execute",
    SagaStepStatus.ErroredByOnExecute: "errored-by-on-execute",
    SagaStepStatus.RunningOnFailure: "running-on-failure",
    SagaStepStatus.PausedOnFailure: "paused-on-failure",
    SagaStepStatus.ErroredOnFailure: "errored-on-failure",
    SagaStepStatus.RunningOnSuccess: "running-on-success",
    SagaStepStatus.ErroredOnSuccess: "errored-on-success",
    SagaStepStatus.RunningOnError: "running-on-error",
    SagaStepStatus.ErroredOnError: "errored-on-error",
    SagaStepStatus.Finished: "finished",
}


@pytest.mark.parametrize(("enum", "expected"), [(SagaStatus, SAGA_STATUSES), (SagaStepStatus, STEP_STATUSES)])
def test_every_member_has_its_stored_string_and_loads_from_it(enum, expected):
    assert set(enum) == set(expected)
    for member, raw in expected.items():
        assert member.raw == raw
        assert enum.from_raw(raw) is member
        assert enum.from_raw(member) is member


@pytest.mark.parametrize("enum", [SagaStatus, SagaStepStatus])
def test_an_unknown_string_is_refused(enum):
    with pytest.raises(ValueError):
        enum.from_raw("unknown")
