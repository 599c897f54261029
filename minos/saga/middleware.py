"""Broker middleware for participants: their handlers join the calling saga's transactions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from uuid import UUID

from minos.networks import REQUEST_HEADERS_CONTEXT_VAR, BrokerRequest, Request, Response

from .transactions import transaction_scope
from .utils import get_service_name


async def transactional_command(
    request: Request, inner: Callable[[Request], Awaitable[Response | None]]
) -> Response | None:
    """Run ``inner`` inside nested transaction entries for the uuids of the ``transactions`` header, then pop the
    last of them from the reply headers and add this service to ``related_services``."""
    transactions = request.headers.get("transactions") if isinstance(request, BrokerRequest) else None
    async with AsyncExitStack() as stack:
        for uuid in filter(None, (transactions or "").split(",")):
            await stack.enter_async_context(transaction_scope(UUID(uuid)))
        response = await inner(request)

    headers = REQUEST_HEADERS_CONTEXT_VAR.get()
    if headers is not None:
        if remaining := headers.get("transactions"):
            headers["transactions"] = ",".join(remaining.split(",")[:-1])
        related_services = set(filter(None, headers.get("related_services", "").split(",")))
        headers["related_services"] = ",".join(sorted(related_services | {get_service_name()}))
    return response
