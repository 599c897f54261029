"""The saga definition: an ordered list of steps, frozen by ``commit()``."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from datetime import timedelta
from typing import Any, TypeVar, Union

from ..exceptions import (
    AlreadyCommittedException,
    AlreadyOnSagaException,
    EmptySagaException,
    SagaDefinitionFormatException,
    SagaNotCommittedException,
)
from .operations import SagaOperation
from .retries import as_seconds
from .steps import ConditionalSagaStep, LocalSagaStep, RemoteSagaStep, SagaStep
from .types import LocalCallback, RequestCallBack

S = TypeVar("S", bound=SagaStep)


class Saga:
    """A saga definition. Build it by chaining steps, then ``commit()`` it before executing it.

    ``deadline`` (seconds or a ``timedelta``) bounds a whole execution: once that long has passed since it started,
    the step it waits on fails with ``SagaStepTimeoutException`` and it compensates (``SagaManager`` enforces it).
    """

    _validated = False  # set on the instance once ``validate`` passed

    def __init__(
        self,
        *args: Any,
        steps: Iterable[SagaStep] | None = None,
        committed: bool = False,
        commit: None = None,
        **kwargs: Any,
    ):
        # A ``deadline`` keyword (kept out of the signature, which is 0.7.0's)
        deadline: Union[float, timedelta, None] = kwargs.pop("deadline", None)
        self.deadline = None if deadline is None else as_seconds(deadline, "deadline")
        """Seconds a run of this saga may take before it is compensated (``None``: no deadline)."""
        self.steps: list[SagaStep] = []
        """The steps, in the order they run."""
        self._committed = False
        for step in steps or ():
            self._add_step(step)
        if commit is not None:
            warnings.warn(
                "Saga(commit=...) is deprecated; add a final local_step() instead.", DeprecationWarning, stacklevel=2
            )
            self.local_step(commit)
            committed = True
        self._committed = committed

    def local_step(
        self, step: Union[LocalCallback, SagaOperation[LocalCallback], LocalSagaStep] | None = None, **kwargs: Any
    ) -> LocalSagaStep:
        """Append a local step (a new one, the given one, or one wrapping the given callback) and return it."""
        return self._add_step(self._build_step(LocalSagaStep, step, **kwargs))

    def remote_step(
        self, step: Union[RequestCallBack, SagaOperation[RequestCallBack], RemoteSagaStep] | None = None, **kwargs: Any
    ) -> RemoteSagaStep:
        """Append a remote step (a new one, the given one, or one whose request the given callback builds)."""
        return self._add_step(self._build_step(RemoteSagaStep, step, **kwargs))

    def step(
        self, step: Union[RequestCallBack, SagaOperation[RequestCallBack], RemoteSagaStep] | None = None, **kwargs: Any
    ) -> RemoteSagaStep:
        """Deprecated alias of :meth:`remote_step`."""
        warnings.warn("step() is deprecated; use remote_step() instead.", DeprecationWarning, stacklevel=2)
        return self.remote_step(step, **kwargs)

    def conditional_step(self, step: ConditionalSagaStep | None = None) -> ConditionalSagaStep:
        """Append a conditional step (a new one or the given one) and return it."""
        return self._add_step(self._build_step(ConditionalSagaStep, step))

    @staticmethod
    def _build_step(step_cls: type[S], step: Any, **kwargs: Any) -> S:
        if step is None:
            return step_cls(**kwargs)
        if isinstance(step, SagaStep):
            if not isinstance(step, step_cls):
                raise TypeError(f"Expected a {step_cls.__name__}, obtained a {type(step).__name__}: {step!r}")
            return step
        if step_cls is ConditionalSagaStep:
            raise TypeError(f"Expected a ConditionalSagaStep. Obtained: {step!r}")
        if not isinstance(step, SagaOperation):
            step = SagaOperation(step, **kwargs)
        return step_cls(step)

    def _add_step(self, step: S) -> S:
        if self.committed:
            raise AlreadyCommittedException("A committed saga cannot get more steps.")
        if step.saga is not None and step.saga is not self:
            raise AlreadyOnSagaException()
        step.saga = self
        self.steps.append(step)
        return step

    def commit(self, callback: None = None, **kwargs: Any) -> Saga:
        """Freeze the saga. A ``callback`` (deprecated) becomes a final local step."""
        if self.committed:
            raise AlreadyCommittedException("A saga cannot be committed twice.")
        if callback is not None:
            warnings.warn(
                "commit(callback) is deprecated; add a final local_step() instead.", DeprecationWarning, stacklevel=2
            )
            self.local_step(callback, **kwargs)
        self._committed = True
        return self

    @property
    def committed(self) -> bool:
        """Whether ``commit()`` froze the saga: a committed definition (its steps included) cannot change."""
        return self._committed

    def validate(self) -> None:
        """Raise unless the saga can be executed: it has steps, they are valid, and it is committed.

        Once it passed, it is not checked again: it was committed, so it cannot change (every execution built from it
        validates it, and checking its steps cost ~1% of a local saga)."""
        if self._validated:
            return
        if not self.steps:
            raise EmptySagaException()
        for step in self.steps:
            step.validate()
        if not self.committed:
            raise SagaNotCommittedException()
        self._validated = True

    @classmethod
    def from_raw(cls, raw: Union[dict[str, Any], Saga], **kwargs: Any) -> Saga:
        """Build a definition from a raw document (or pass a ``Saga`` through), as executions store it."""
        if isinstance(raw, Saga):
            return raw
        if not isinstance(raw, dict) or "steps" not in raw:
            raise SagaDefinitionFormatException(f"A raw saga must be a dict with a 'steps' key. Obtained: {raw!r}")
        steps = [SagaStep.from_raw(step) for step in raw["steps"]]
        return cls(steps=steps, committed=raw.get("committed", False), deadline=raw.get("deadline"), **kwargs)

    @property
    def raw(self) -> dict[str, Any]:
        """0.7.0's keys, plus ``deadline`` only when declared."""
        raw: dict[str, Any] = {"steps": [step.raw for step in self.steps], "committed": self.committed}
        if self.deadline is not None:
            raw["deadline"] = self.deadline
        return raw

    def __eq__(self, other: Any) -> bool:
        return type(self) is type(other) and (self.steps, self.committed, self.deadline) == (
            other.steps,
            other.committed,
            other.deadline,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(steps={self.steps!r}, committed={self.committed!r})"
