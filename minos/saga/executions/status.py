"""The states of a saga execution and of each of its steps, stored by their ``raw`` string."""

from __future__ import annotations

from enum import Enum


def _raw(self: Enum) -> str:
    return self.value


def _from_raw(cls: type[Enum], raw: str) -> Enum:
    return cls(raw)


class SagaStatus(Enum):
    """Where a saga execution stands."""

    raw = property(_raw)
    from_raw = classmethod(_from_raw)

    Created = "created"
    Running = "running"
    Paused = "paused"
    Finished = "finished"
    Errored = "errored"


class SagaStepStatus(Enum):
    """Where a step execution stands."""

    raw = property(_raw)
    from_raw = classmethod(_from_raw)

    Created = "created"
    RunningOnExecute = "running-on-execute"
    FinishedOnExecute = "finished-on-execute"
    ErroredOnExecute = "errored-on-execute"
    PausedByOnExecute = "paused-by-on-execute"
    ErroredByOnExecute = "errored-by-on-execute"
    RunningOnFailure = "running-on-failure"
    PausedOnFailure = "paused-on-failure"
    ErroredOnFailure = "errored-on-failure"
    RunningOnSuccess = "running-on-success"
    ErroredOnSuccess = "errored-on-success"
    RunningOnError = "running-on-error"
    ErroredOnError = "errored-on-error"
    Finished = "finished"
