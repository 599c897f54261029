"""A step run inside this service: ``on_execute`` changes the context, ``on_failure`` compensates it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Union

from ...context import SagaContext
from ...exceptions import (
    EmptySagaStepException,
    MultipleOnExecuteException,
    MultipleOnFailureException,
    UndefinedOnExecuteException,
)
from ..operations import SagaOperation
from ..types import LocalCallback
from .abc import SagaStep, optional_operation, raw_or_none, require_keys, validate_operations

# The validation exceptions are importable from here too, as in 0.7.0.
__all__ = ["EmptySagaStepException", "LocalSagaStep", "UndefinedOnExecuteException"]


class LocalSagaStep(SagaStep):
    """A step whose callbacks run locally: ``fn(context, **params) -> SagaContext | None``."""

    def __init__(
        self,
        on_execute: Union[LocalCallback, SagaOperation[LocalCallback]] | None = None,
        on_failure: Union[LocalCallback, SagaOperation[LocalCallback]] | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.on_execute_operation = optional_operation(on_execute)
        """What the step does (``None`` until ``on_execute`` sets it)."""
        self.on_failure_operation = optional_operation(on_failure)
        """What undoes the step when a later one fails (``None``: nothing to undo)."""

    def on_execute(
        self, callback: LocalCallback, parameters: SagaContext | None = None, **kwargs: Any
    ) -> LocalSagaStep:
        """Set the callback run in this service; it returns the new context."""
        return self._set_operation("on_execute", MultipleOnExecuteException, callback, parameters, **kwargs)

    def on_failure(
        self, callback: LocalCallback, parameters: SagaContext | None = None, **kwargs: Any
    ) -> LocalSagaStep:
        """Set the callback that undoes ``on_execute`` when a later step fails."""
        return self._set_operation("on_failure", MultipleOnFailureException, callback, parameters, **kwargs)

    def validate(self) -> None:
        """Raise unless the step has an ``on_execute`` (and is not empty)."""
        validate_operations(self.on_execute_operation, self.on_failure_operation)

    @classmethod
    def _from_raw(cls, raw: dict[str, Any], **kwargs: Any) -> LocalSagaStep:
        require_keys(raw, "on_execute")
        return cls(SagaOperation.from_raw(raw["on_execute"]), SagaOperation.from_raw(raw.get("on_failure")), **kwargs)

    @property
    def raw(self) -> dict[str, Any]:
        """The step as a raw document: its class path and its two operations."""
        return {
            "cls": self._classname,
            "on_execute": raw_or_none(self.on_execute_operation),
            "on_failure": raw_or_none(self.on_failure_operation),
        }

    def __iter__(self) -> Iterator[Any]:
        yield from (self.on_execute_operation, self.on_failure_operation)
