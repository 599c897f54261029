"""Runs reply callbacks: ``fn(context, response, **params) -> SagaContext``."""

from __future__ import annotations

from typing import Any

from ...context import SagaContext
from ...definitions import ResponseCallBack, SagaOperation
from ...exceptions import ExecutorException, SagaCallbackReturnTypeException, SagaFailedExecutionStepException
from ...messages import SagaResponse
from .abc import Executor, context_copy, step_failure, with_parameters

# The exception is importable from here too, as in 0.7.0.
__all__ = [
    "ExecutorException",
    "ResponseExecutor",
]


class ResponseExecutor(Executor):
    """A callback that raises, returns an ``Exception`` or returns something else than a ``SagaContext`` fails with
    ``SagaFailedExecutionStepException``. Without a callback the context stays."""

    async def exec(
        self,
        operation: SagaOperation[ResponseCallBack] | None,
        context: Any,
        response: SagaResponse,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        """Run the reply handler on a copy of the context and return the new context (an exception means failure)."""
        if operation is None:
            return context
        try:
            arguments = with_parameters(operation, kwargs)
            result = await self.exec_function(operation.callback, context_copy(context), response, *args, **arguments)
        except Exception as exc:
            raise step_failure(exc) from exc
        if isinstance(result, Exception):
            raise SagaFailedExecutionStepException(result)
        if not isinstance(result, SagaContext):
            raise SagaFailedExecutionStepException(
                SagaCallbackReturnTypeException(
                    f"A reply callback must return a SagaContext. {operation!r} returned {result!r}"
                )
            )
        return result
