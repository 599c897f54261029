"""Runs reply callbacks: ``fn(context, response, **params) -> SagaContext``."""

from __future__ import annotations

from ...context import SagaContext
from ...definitions import ResponseCallBack, SagaOperation
from ...exceptions import SagaCallbackReturnTypeException
from ...messages import SagaResponse
from .abc import Executor


class ResponseExecutor(Executor):
    """A callback that raises, or returns an ``Exception``, fails the step. Without a callback the context stays."""

    async def exec(
        self,
        operation: SagaOperation[ResponseCallBack] | None,
        context: SagaContext,
        response: SagaResponse,
        *args,
        **kwargs,
    ) -> SagaContext:
        if operation is None:
            return context
        result = await super().exec(operation, context.copy(), response, *args, **kwargs)
        if isinstance(result, Exception):
            raise result
        if not isinstance(result, SagaContext):
            raise SagaCallbackReturnTypeException(
                f"A reply callback must return a SagaContext. {operation!r} returned {result!r}"
            )
        return result
