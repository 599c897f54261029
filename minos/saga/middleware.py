"""Broker middleware for participants: their handlers join the calling saga's transactions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from uuid import UUID

from minos.networks import REQUEST_HEADERS_CONTEXT_VAR, BrokerRequest, Request, Response

from ._header_lists import add_related_services, header_list, pop_transaction
from .transactions import TransactionScopes
from .utils import get_service_name


async def transactional_command(
    request: Request, inner: Callable[[Request], Awaitable[Response | None]]
) -> Response | None:
    """Run ``inner`` inside nested transaction entries for the uuids of the ``transactions`` header, then (even when
    it raises) pop the last of them from the reply headers (removing the header with the last one) and add this
    service to ``related_services``."""
    transactions = request.headers.get("transactions") if isinstance(request, BrokerRequest) else None
    try:
        async with AsyncExitStack() as stack:
            if transactions:
                scope = TransactionScopes()
                for uuid in header_list(request.headers, "transactions"):
                    await stack.enter_async_context(scope(UUID(uuid)))
            return await inner(request)
    finally:
        # Also when the handler raises (a refusal): the saga's compensation must find this service among the
        # participants, and the caller's transaction must not be left on the reply.
        _restore_reply_headers()


def _restore_reply_headers() -> None:
    headers = REQUEST_HEADERS_CONTEXT_VAR.get()
    if headers is None:
        return
    pop_transaction(headers)
    add_related_services(headers, [get_service_name()])
