"""Runs local callbacks: ``fn(context, **params) -> SagaContext | None``."""

from __future__ import annotations

from ...context import SagaContext
from ...definitions import LocalCallback, SagaOperation
from ...exceptions import SagaCallbackReturnTypeException
from .abc import Executor


class LocalExecutor(Executor):
    """The callback works on a copy of the context, so a failure leaves the execution's context as it was."""

    async def exec(
        self, operation: SagaOperation[LocalCallback] | None, context: SagaContext, *args, **kwargs
    ) -> SagaContext:
        if operation is None:
            return context
        context = context.copy()
        result = await super().exec(operation, context, *args, **kwargs)
        if result is None:
            return context
        if not isinstance(result, SagaContext):
            raise SagaCallbackReturnTypeException(
                f"A local callback must return a SagaContext or None. {operation!r} returned {result!r}"
            )
        return result
