"""A step that asks another service to act: ``on_execute`` builds the request, the reply picks the next callback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Union

from ...context import SagaContext
from ...exceptions import (
    EmptySagaStepException,
    MultipleOnErrorException,
    MultipleOnExecuteException,
    MultipleOnFailureException,
    MultipleOnSuccessException,
    UndefinedOnExecuteException,
)
from ..operations import SagaOperation
from ..types import RequestCallBack, ResponseCallBack
from .abc import SagaStep, optional_operation, raw_or_none, require_keys, validate_operations

# The validation exceptions are importable from here too, as in 0.7.0.
__all__ = ["EmptySagaStepException", "RemoteSagaStep", "UndefinedOnExecuteException"]


class RemoteSagaStep(SagaStep):
    """``on_execute`` and ``on_failure`` return a :class:`SagaRequest`; ``on_success`` (200) and ``on_error`` (400)
    receive the reply and return the new context."""

    def __init__(
        self,
        on_execute: Union[RequestCallBack, SagaOperation[RequestCallBack]] | None = None,
        on_success: Union[ResponseCallBack, SagaOperation[ResponseCallBack]] | None = None,
        on_error: Union[ResponseCallBack, SagaOperation[ResponseCallBack]] | None = None,
        on_failure: Union[RequestCallBack, SagaOperation[RequestCallBack]] | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.on_execute_operation = optional_operation(on_execute)
        self.on_success_operation = optional_operation(on_success)
        self.on_error_operation = optional_operation(on_error)
        self.on_failure_operation = optional_operation(on_failure)

    def on_execute(
        self, callback: RequestCallBack, parameters: SagaContext | None = None, **kwargs: Any
    ) -> RemoteSagaStep:
        return self._set_operation("on_execute", MultipleOnExecuteException, callback, parameters, **kwargs)

    def on_success(
        self, callback: ResponseCallBack, parameters: SagaContext | None = None, **kwargs: Any
    ) -> RemoteSagaStep:
        return self._set_operation("on_success", MultipleOnSuccessException, callback, parameters, **kwargs)

    def on_error(
        self, callback: ResponseCallBack, parameters: SagaContext | None = None, **kwargs: Any
    ) -> RemoteSagaStep:
        return self._set_operation("on_error", MultipleOnErrorException, callback, parameters, **kwargs)

    def on_failure(
        self, callback: RequestCallBack, parameters: SagaContext | None = None, **kwargs: Any
    ) -> RemoteSagaStep:
        return self._set_operation("on_failure", MultipleOnFailureException, callback, parameters, **kwargs)

    def validate(self) -> None:
        validate_operations(
            self.on_execute_operation, self.on_success_operation, self.on_error_operation, self.on_failure_operation
        )

    @classmethod
    def _from_raw(cls, raw: dict[str, Any], **kwargs: Any) -> RemoteSagaStep:
        require_keys(raw, "on_execute")
        return cls(
            SagaOperation.from_raw(raw["on_execute"]),
            SagaOperation.from_raw(raw.get("on_success")),
            SagaOperation.from_raw(raw.get("on_error")),
            SagaOperation.from_raw(raw.get("on_failure")),
            **kwargs,
        )

    @property
    def raw(self) -> dict[str, Any]:
        return {
            "cls": self._classname,
            "on_execute": raw_or_none(self.on_execute_operation),
            "on_failure": raw_or_none(self.on_failure_operation),
            "on_success": raw_or_none(self.on_success_operation),
            "on_error": raw_or_none(self.on_error_operation),
        }

    def __iter__(self) -> Iterator[Any]:
        yield from (
            self.on_execute_operation,
            self.on_success_operation,
            self.on_error_operation,
            self.on_failure_operation,
        )
