"""Runs request callbacks and publishes the request they build."""

from __future__ import annotations

from uuid import UUID

from minos.networks import REQUEST_HEADERS_CONTEXT_VAR, BrokerPublisher

from ...context import SagaContext
from ...definitions import RequestCallBack, SagaOperation
from ...exceptions import SagaCallbackReturnTypeException
from ...messages import SagaRequest
from ..broker_messages import build_message, saga_reply_topic
from .abc import Executor


class RequestExecutor(Executor):
    """Publishes ``SagaRequest.target`` with the incoming request's headers plus ``saga``, ``user`` and
    ``transactions``, replying to ``REQUEST_REPLY_TOPIC_CONTEXT_VAR`` or ``{service}Reply``.

    An optional ``request_id`` keyword becomes the message identifier, which minos' dispatcher gives the reply.
    """

    def __init__(self, *args, user: UUID | None, broker_publisher: BrokerPublisher, **kwargs):
        self.request_id: UUID | None = kwargs.pop("request_id", None)
        super().__init__(*args, **kwargs)
        self.user = user
        self.broker_publisher = broker_publisher

    async def exec(self, operation: SagaOperation[RequestCallBack] | None, context: SagaContext) -> SagaContext:
        if operation is None:
            return context
        request = await super().exec(operation, context.copy())
        if not isinstance(request, SagaRequest):
            raise SagaCallbackReturnTypeException(
                f"A request callback must return a SagaRequest. {operation!r} returned {request!r}"
            )
        await self._publish(request)
        return context

    async def _publish(self, request: SagaRequest) -> None:
        uuid = str(self.execution_uuid)
        headers = dict(REQUEST_HEADERS_CONTEXT_VAR.get() or {})
        headers["saga"] = uuid
        if self.user is not None:
            headers["user"] = str(self.user)
        headers["transactions"] = f"{headers['transactions']},{uuid}" if headers.get("transactions") else uuid

        message = build_message(request.target, await request.content(), headers, saga_reply_topic(), self.request_id)
        await self.broker_publisher.send(message)
