"""Runs request callbacks and publishes the request they build."""

from __future__ import annotations

from typing import Any, Optional
from uuid import UUID

from minos.common import Inject, NotProvidedException
from minos.networks import REQUEST_HEADERS_CONTEXT_VAR, BrokerPublisher

from ..._header_lists import push_transaction
from ..._minos_internals import publish
from ...context import SagaContext
from ...definitions import RequestCallBack, SagaOperation
from ...exceptions import ExecutorException, SagaCallbackReturnTypeException, SagaFailedExecutionStepException
from ...messages import SagaRequest
from .._broker_messages import build_message, saga_reply_topic
from .abc import Executor, context_copy, step_failure, with_parameters

# The context and exceptions are importable from here too, as in 0.7.0.
__all__ = [
    "ExecutorException",
    "RequestExecutor",
    "SagaContext",
    "SagaFailedExecutionStepException",
]


class RequestExecutor(Executor):
    """Publishes ``SagaRequest.target`` with the incoming request's headers plus ``saga``, ``user`` and
    ``transactions``, replying to ``REQUEST_REPLY_TOPIC_CONTEXT_VAR`` or ``{service}Reply``. The broker publisher is
    injected unless given; a callback that fails or does not return a ``SagaRequest``, and a publish that fails, raise
    ``SagaFailedExecutionStepException``.

    An optional ``request_id`` keyword becomes the message identifier, which minos' dispatcher gives the reply.
    """

    @Inject()
    def __init__(self, *args: Any, user: Optional[UUID], broker_publisher: BrokerPublisher, **kwargs: Any):  # noqa: UP045
        if broker_publisher is None:
            raise NotProvidedException(f"A {BrokerPublisher!r} instance is required to publish saga requests.")
        self.request_id: UUID | None = kwargs.get("request_id")
        """The identifier the request is sent with (``None``: a new one)."""
        super().__init__(*args, **kwargs)
        self.user = user
        """The user the request is sent on behalf of (``None``: none)."""
        self.broker_publisher = broker_publisher
        """Publishes the request."""

    async def exec(self, operation: SagaOperation[RequestCallBack] | None, context: Any) -> Any:
        """Build the request with the callback and publish it with the saga's headers; the context stays."""
        if operation is None:
            return context
        try:
            request = await self.exec_function(
                operation.callback, context_copy(context), **with_parameters(operation, {})
            )
            if not isinstance(request, SagaRequest):
                raise SagaCallbackReturnTypeException(
                    f"A request callback must return a SagaRequest. {operation!r} returned {request!r}"
                )
            await self._publish(request)
        except Exception as exc:
            raise step_failure(exc) from exc
        return context

    async def _publish(self, request: SagaRequest) -> None:
        uuid = str(self.execution_uuid)
        headers = dict(REQUEST_HEADERS_CONTEXT_VAR.get() or {})
        headers["saga"] = uuid
        if self.user is not None:
            headers["user"] = str(self.user)
        push_transaction(headers, uuid)

        reply_topic = saga_reply_topic(self.dependencies.service_name)
        message = build_message(request.target, await request.content(), headers, reply_topic, self.request_id)
        await publish(self.broker_publisher, message)
