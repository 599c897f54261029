"""A step that asks another service to act: ``on_execute`` builds the request, the reply picks the next callback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
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
from ..retries import NO_RETRY, RetryPolicy, as_seconds
from ..types import RequestCallBack, ResponseCallBack
from .abc import SagaStep, optional_operation, raw_or_none, require_keys, validate_operations

# The validation exceptions are importable from here too, as in 0.7.0.
__all__ = ["EmptySagaStepException", "RemoteSagaStep", "UndefinedOnExecuteException"]


class RemoteSagaStep(SagaStep):
    """``on_execute`` and ``on_failure`` return a :class:`SagaRequest`; ``on_success`` (200) and ``on_error`` (400)
    receive the reply and return the new context.

    ``timeout(seconds)`` bounds the wait for each reply and ``retry(RetryPolicy(...))`` how often the request is
    sent again (same identity) before the step fails with ``SagaStepTimeoutException``; ``SagaManager`` enforces
    both. A step declaring neither is stored exactly as in 0.7.0.
    """

    def __init__(
        self,
        on_execute: Union[RequestCallBack, SagaOperation[RequestCallBack]] | None = None,
        on_success: Union[ResponseCallBack, SagaOperation[ResponseCallBack]] | None = None,
        on_error: Union[ResponseCallBack, SagaOperation[ResponseCallBack]] | None = None,
        on_failure: Union[RequestCallBack, SagaOperation[RequestCallBack]] | None = None,
        **kwargs: Any,
    ):
        # ``timeout`` and ``retry_policy`` keywords (kept out of the signature, which is 0.7.0's)
        timeout: Union[float, timedelta, None] = kwargs.pop("timeout", None)
        retry_policy: RetryPolicy | None = kwargs.pop("retry_policy", None)
        super().__init__(**kwargs)
        self.reply_timeout = None if timeout is None else as_seconds(timeout, "timeout")
        """Seconds to wait for the reply before sending again or compensating (``None``: wait forever)."""
        self.retry_policy = None if retry_policy is None else self._checked_policy(retry_policy)
        """How the request is sent again when no reply comes in time (``None``: sent once)."""
        self.on_execute_operation = optional_operation(on_execute)
        """Builds the request sent to the participant."""
        self.on_success_operation = optional_operation(on_success)
        """Reads a successful reply into the context (``None``: the context stays as it is)."""
        self.on_error_operation = optional_operation(on_error)
        """Reads an error reply (status 400); ``None``: the step fails."""
        self.on_failure_operation = optional_operation(on_failure)
        """Builds the compensating request sent when a later step fails (``None``: none)."""

    def on_execute(
        self, callback: RequestCallBack, parameters: SagaContext | None = None, **kwargs: Any
    ) -> RemoteSagaStep:
        """Set the callback that builds the request (a ``SagaRequest``) sent to the participant."""
        return self._set_operation("on_execute", MultipleOnExecuteException, callback, parameters, **kwargs)

    def on_success(
        self, callback: ResponseCallBack, parameters: SagaContext | None = None, **kwargs: Any
    ) -> RemoteSagaStep:
        """Set the callback that reads a successful reply and returns the new context."""
        return self._set_operation("on_success", MultipleOnSuccessException, callback, parameters, **kwargs)

    def on_error(
        self, callback: ResponseCallBack, parameters: SagaContext | None = None, **kwargs: Any
    ) -> RemoteSagaStep:
        """Set the callback that reads an error reply; it returns a context to go on, or an exception to fail."""
        return self._set_operation("on_error", MultipleOnErrorException, callback, parameters, **kwargs)

    def on_failure(
        self, callback: RequestCallBack, parameters: SagaContext | None = None, **kwargs: Any
    ) -> RemoteSagaStep:
        """Set the callback that builds the compensating request, sent when a later step fails."""
        return self._set_operation("on_failure", MultipleOnFailureException, callback, parameters, **kwargs)

    def timeout(self, seconds: Union[float, timedelta]) -> RemoteSagaStep:
        """Wait at most ``seconds`` for each reply (each attempt of the request)."""
        self._check_changeable()
        self.reply_timeout = as_seconds(seconds, "timeout")
        return self

    def retry(self, policy: RetryPolicy) -> RemoteSagaStep:
        """Send the request again as ``policy`` says when a reply times out or has a retryable status."""
        self._check_changeable()
        self.retry_policy = self._checked_policy(policy)
        return self

    @staticmethod
    def _checked_policy(policy: Any) -> RetryPolicy:
        if not isinstance(policy, RetryPolicy):
            raise TypeError(f"Expected a RetryPolicy. Obtained: {policy!r}")
        return policy

    @property
    def attempts_policy(self) -> RetryPolicy:
        """The declared retry policy, or a single attempt."""
        return self.retry_policy or NO_RETRY

    def validate(self) -> None:
        """Raise unless the step has an ``on_execute`` (and is not empty)."""
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
            timeout=raw.get("timeout"),
            retry_policy=None if raw.get("retry") is None else RetryPolicy.from_raw(raw["retry"]),
            **kwargs,
        )

    @property
    def raw(self) -> dict[str, Any]:
        """0.7.0's keys, plus ``timeout`` and ``retry`` only when declared."""
        raw: dict[str, Any] = {
            "cls": self._classname,
            "on_execute": raw_or_none(self.on_execute_operation),
            "on_failure": raw_or_none(self.on_failure_operation),
            "on_success": raw_or_none(self.on_success_operation),
            "on_error": raw_or_none(self.on_error_operation),
        }
        if self.reply_timeout is not None:
            raw["timeout"] = self.reply_timeout
        if self.retry_policy is not None:
            raw["retry"] = self.retry_policy.raw
        return raw

    def __iter__(self) -> Iterator[Any]:
        yield from (
            self.on_execute_operation,
            self.on_success_operation,
            self.on_error_operation,
            self.on_failure_operation,
        )
        # Only when declared, so a 0.7.0 step compares and prints as before.
        if self.reply_timeout is not None or self.retry_policy is not None:
            yield from (self.reply_timeout, self.retry_policy)
