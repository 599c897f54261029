"""transactional_command: participants' handlers join the saga transactions and report their service."""

from __future__ import annotations

import contextlib
from uuid import uuid4

import pytest
from minos.networks import (
    REQUEST_HEADERS_CONTEXT_VAR,
    BrokerMessageV1,
    BrokerMessageV1Payload,
    BrokerRequest,
    BrokerResponse,
    InMemoryRequest,
)

from minos.saga import transactional_command


def broker_request(**headers: str) -> BrokerRequest:
    return BrokerRequest(BrokerMessageV1("CreateTicket", BrokerMessageV1Payload("content", headers=headers)))


@pytest.fixture
def headers():
    headers = {"transactions": "a,b,c", "related_services": "ticket"}
    token = REQUEST_HEADERS_CONTEXT_VAR.set(headers)
    yield headers
    REQUEST_HEADERS_CONTEXT_VAR.reset(token)


async def test_pops_last_transaction_and_adds_service(injector, headers):
    async def inner(request):
        return BrokerResponse("done")

    response = await transactional_command(broker_request(), inner)
    assert await response.content() == "done"
    assert headers["transactions"] == "a,b"
    assert headers["related_services"] == "order,ticket"


async def test_non_broker_request_runs_plainly(injector, headers):
    seen = []

    async def inner(request):
        seen.append(request)

    request = InMemoryRequest("content")
    assert await transactional_command(request, inner) is None
    assert seen == [request]
    assert headers["transactions"] == "a,b"


async def test_without_headers_context(injector):
    async def inner(request):
        return "ok"

    assert REQUEST_HEADERS_CONTEXT_VAR.get() is None
    assert await transactional_command(broker_request(transactions=str(uuid4())), inner) == "ok"


async def refuse(request):
    raise ValueError("payment refused")


async def test_headers_are_restored_when_the_handler_raises(injector, headers):
    with pytest.raises(ValueError):
        await transactional_command(broker_request(), refuse)
    assert headers["transactions"] == "a,b"
    assert headers["related_services"] == "order,ticket"


@pytest.mark.parametrize("handler", ["returns", "raises"])
async def test_popping_the_last_transaction_removes_the_header(injector, handler):
    async def inner(request):
        if handler == "raises":
            raise ValueError("payment refused")
        return BrokerResponse("done")

    headers = {"transactions": "a"}
    token = REQUEST_HEADERS_CONTEXT_VAR.set(headers)
    try:
        with contextlib.suppress(ValueError):
            await transactional_command(broker_request(), inner)
    finally:
        REQUEST_HEADERS_CONTEXT_VAR.reset(token)
    assert headers == {"related_services": "order"}
