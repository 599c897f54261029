"""The states of a saga execution and of each of its steps, stored by their ``raw`` string.

The engine binds the members it reads on every step to module constants: before Python 3.12, ``EnumMeta`` defines
``__getattr__``, so reading any attribute of an Enum class (``SagaStepStatus.Finished``) goes through a hook that
costs ~800 instructions, ten times reading a global; a local saga of five steps read ~20 of them.
"""

from __future__ import annotations

from enum import Enum


class SagaStatus(Enum):
    """Where a saga execution stands."""

    Created = "created"
    """Built, not run yet."""
    Running = "running"
    """Running its steps."""
    Paused = "paused"
    """Waiting for a reply."""
    Finished = "finished"
    """Every step ran (and the transactions were committed)."""
    Errored = "errored"
    """A step failed (or an operator stopped it); what ran was compensated unless a compensation failed."""

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
    """Not run yet."""
    RunningOnExecute = "running-on-execute"
    """Running its ``on_execute`` callback."""
    FinishedOnExecute = "finished-on-execute"
    """``on_execute`` done; a remote step has sent its request."""
    ErroredOnExecute = "errored-on-execute"
    """``on_execute`` raised."""
    PausedByOnExecute = "paused-by-on-execute"
    """Its request is sent: waiting for the reply."""
    ErroredByOnExecute = "errored-by-on-execute"
    """The request could not be built or sent."""
    RunningOnFailure = "running-on-failure"
    """Running its compensation."""
    PausedOnFailure = "paused-on-failure"
    """Its compensation request is sent: waiting for the reply."""
    ErroredOnFailure = "errored-on-failure"
    """Its compensation failed."""
    RunningOnSuccess = "running-on-success"
    """Running ``on_success`` on the reply."""
    ErroredOnSuccess = "errored-on-success"
    """``on_success`` raised or returned an error."""
    RunningOnError = "running-on-error"
    """Running ``on_error`` on an error reply."""
    ErroredOnError = "errored-on-error"
    """The reply was an error: ``on_error`` failed the step, or there is none."""
    Finished = "finished"
    """Done."""

    @property
    def raw(self) -> str:
        """The status as stored in execution documents."""
        return self.value

    @classmethod
    def from_raw(cls, raw: str) -> SagaStepStatus:
        """The status a stored document names (or pass one through)."""
        return cls(raw)
