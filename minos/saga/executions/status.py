"""The states of a saga execution and of each of its steps, stored by their ``raw`` string."""

from __future__ import annotations

from enum import Enum


class SagaStatus(Enum):
    """Where a saga execution stands."""

    Created = "created"
    Running = "running"
    Paused = "paused"
    Finished = "finished"
    Errored = "errored"

    @property
    def raw(self) -> str:
        """The status as stored in execution documents."""
        return self.value

    @classmethod
    def from_raw(cls, raw: str) -> SagaStatus:
        """The status a stored document names (or pass one through)."""
        return cls(raw)


class SagaStepStatus(Enum):
    """Where a step execution stands."""

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

    @property
    def raw(self) -> str:
        """The status as stored in execution documents."""
        return self.value

    @classmethod
    def from_raw(cls, raw: str) -> SagaStepStatus:
        """The status a stored document names (or pass one through)."""
        return cls(raw)
