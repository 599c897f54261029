"""Executors: how callbacks are called and how requests are published."""

from __future__ import annotations

from uuid import uuid4

import pytest
from minos.networks import REQUEST_HEADERS_CONTEXT_VAR, REQUEST_REPLY_TOPIC_CONTEXT_VAR

from minos.saga import (
    LocalExecutor,
    RequestExecutor,
    ResponseExecutor,
    SagaCallbackReturnTypeException,
    SagaContext,
    SagaOperation,
    SagaResponse,
)
from tests.test_saga.utils import (
    add_amount,
    async_mark,
    handle_returning_exception,
    handle_ticket,
    return_int,
    send_create_ticket,
    send_wrong_type,
)

pytestmark = pytest.mark.usefixtures("injector")


def mutate_request(context: SagaContext):
    from minos.saga import SagaRequest

    context["mutated"] = True
    return SagaRequest("Target", "content")


async def test_local_parameters_and_async():
    context = await LocalExecutor(uuid4()).exec(SagaOperation(add_amount, amount=5), SagaContext(amount=1))
    assert context == SagaContext(amount=6)
    assert await LocalExecutor(uuid4()).exec(SagaOperation(async_mark), SagaContext()) == SagaContext(**{"async": True})
    assert await LocalExecutor(uuid4()).exec(None, SagaContext(a=1)) == SagaContext(a=1)


async def test_local_wrong_type():
    with pytest.raises(SagaCallbackReturnTypeException):
        await LocalExecutor(uuid4()).exec(SagaOperation(return_int), SagaContext())


async def test_response_executor():
    response = SagaResponse("t")
    assert await ResponseExecutor(uuid4()).exec(SagaOperation(handle_ticket), SagaContext(), response) == SagaContext(
        ticket="t"
    )
    with pytest.raises(ValueError):
        await ResponseExecutor(uuid4()).exec(SagaOperation(handle_returning_exception), SagaContext(), response)


async def test_request_headers(broker_publisher):
    uuid, user, request_id = uuid4(), uuid4(), uuid4()
    token = REQUEST_HEADERS_CONTEXT_VAR.set({"transactions": "aaa", "foo": "bar"})
    try:
        executor = RequestExecutor(uuid, user=user, broker_publisher=broker_publisher, request_id=request_id)
        await executor.exec(SagaOperation(send_create_ticket), SagaContext(order="o"))
    finally:
        REQUEST_HEADERS_CONTEXT_VAR.reset(token)
    [message] = broker_publisher.messages
    assert message.topic == "CreateTicket"
    assert message.content == {"order": "o"}
    assert message.reply_topic == "orderReply"
    assert message.headers == {
        "foo": "bar",
        "saga": str(uuid),
        "user": str(user),
        "transactions": f"aaa,{uuid}",
    }
    assert message.identifier == request_id


async def test_request_reply_topic_context_var_and_no_user(broker_publisher):
    uuid = uuid4()
    token = REQUEST_REPLY_TOPIC_CONTEXT_VAR.set("custom")
    try:
        await RequestExecutor(uuid, user=None, broker_publisher=broker_publisher).exec(
            SagaOperation(send_create_ticket), SagaContext()
        )
    finally:
        REQUEST_REPLY_TOPIC_CONTEXT_VAR.reset(token)
    [message] = broker_publisher.messages
    assert message.reply_topic == "custom"
    assert "user" not in message.headers
    assert message.headers["transactions"] == str(uuid)


async def test_request_receives_a_copy(broker_publisher):
    context = SagaContext(a=1)
    result = await RequestExecutor(uuid4(), user=None, broker_publisher=broker_publisher).exec(
        SagaOperation(mutate_request), context
    )
    assert context == SagaContext(a=1)
    assert result == SagaContext(a=1)


async def test_request_wrong_type(broker_publisher):
    with pytest.raises(SagaCallbackReturnTypeException):
        await RequestExecutor(uuid4(), user=None, broker_publisher=broker_publisher).exec(
            SagaOperation(send_wrong_type), SagaContext()
        )
    assert broker_publisher.messages == []
