"""Runs local callbacks: ``fn(context, **params) -> SagaContext | None``."""

from __future__ import annotations

import warnings
from typing import Any

from ...context import SagaContext
from ...definitions import LocalCallback, SagaOperation
from ...exceptions import ExecutorException, SagaFailedExecutionStepException
from .abc import Executor, context_copy, step_failure, with_parameters

# The exceptions are importable from here too, as in 0.7.0.
__all__ = [
    "ExecutorException",
    "LocalExecutor",
    "SagaFailedExecutionStepException",
]


class LocalExecutor(Executor):
    """The callback works on a copy of the context, so a failure leaves the execution's context as it was; it fails
    with ``SagaFailedExecutionStepException``.

    A callback returning something else than a ``SagaContext`` or ``None`` (a dict, say) gets a warning, and its value
    is returned as the new context, as 0.7.0 did.
    """

    async def exec(
        self, operation: SagaOperation[LocalCallback] | None, context: Any, *args: Any, **kwargs: Any
    ) -> Any:
        """Run the local callback on a copy of the context and return the new context."""
        if operation is None:
            return context
        try:
            context = context_copy(context)
            result = await self.exec_function(operation.callback, context, *args, **with_parameters(operation, kwargs))
        except Exception as exc:
            raise step_failure(exc) from exc
        if result is None:
            return context
        if not isinstance(result, SagaContext):
            warnings.warn(
                f"The {operation!r} local callback returned {result!r}, not a SagaContext or None: it becomes the "
                "execution's context, as in 0.7.0. Return a SagaContext instead.",
                RuntimeWarning,
                stacklevel=2,
            )
        return result
