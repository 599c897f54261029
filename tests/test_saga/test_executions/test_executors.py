"""Executors: how callbacks are called and how requests are published."""

from __future__ import annotations

from uuid import uuid4

import pytest
from minos.common import NotProvidedException
from minos.networks import REQUEST_HEADERS_CONTEXT_VAR, REQUEST_REPLY_TOPIC_CONTEXT_VAR, InMemoryBrokerPublisher

from minos.saga import (
    Executor,
    LocalExecutor,
    RequestExecutor,
    ResponseExecutor,
    SagaCallbackReturnTypeException,
    SagaContext,
    SagaFailedExecutionStepException,
    SagaOperation,
    SagaResponse,
)
from minos.saga.exceptions import ExecutorException
from tests.test_saga.utils import (
    add_amount,
    async_mark,
    handle_raising,
    handle_returning_exception,
    handle_ticket,
    handle_wrong_type,
    mutate_then_fail,
    return_dict,
    return_int,
    send_create_ticket,
    send_failing,
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


async def test_local_returning_something_else_warns_and_returns_it():
    with pytest.warns(RuntimeWarning, match="local callback returned 42"):
        assert await LocalExecutor(uuid4()).exec(SagaOperation(return_int), SagaContext()) == 42
    with pytest.warns(RuntimeWarning):
        assert await LocalExecutor(uuid4()).exec(SagaOperation(return_dict), SagaContext()) == {"a": 1}


async def test_a_mapping_context_reaches_the_callback_as_a_context():
    assert await LocalExecutor(uuid4()).exec(SagaOperation(add_amount), {"amount": 1}) == SagaContext(amount=2)


async def test_base_executor_raises_executor_exception():
    with pytest.raises(ExecutorException) as info:
        await Executor(uuid4()).exec(SagaOperation(mutate_then_fail), SagaContext())
    assert isinstance(info.value.exception, ValueError)


async def test_local_failure_is_a_step_failure():
    with pytest.raises(SagaFailedExecutionStepException) as info:
        await LocalExecutor(uuid4()).exec(SagaOperation(mutate_then_fail), SagaContext())
    assert isinstance(info.value.exception, ValueError)


async def test_response_executor():
    response = SagaResponse("t")
    assert await ResponseExecutor(uuid4()).exec(SagaOperation(handle_ticket), SagaContext(), response) == SagaContext(
        ticket="t"
    )
    with pytest.raises(SagaFailedExecutionStepException) as info:
        await ResponseExecutor(uuid4()).exec(SagaOperation(handle_returning_exception), SagaContext(), response)
    assert isinstance(info.value.exception, ValueError)
    with pytest.raises(SagaFailedExecutionStepException) as info:
        await ResponseExecutor(uuid4()).exec(SagaOperation(handle_raising), SagaContext(), response)
    assert isinstance(info.value.exception, ValueError)
    with pytest.raises(SagaFailedExecutionStepException) as info:
        await ResponseExecutor(uuid4()).exec(SagaOperation(handle_wrong_type), SagaContext(), response)
    assert isinstance(info.value.exception, SagaCallbackReturnTypeException)


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
    with pytest.raises(SagaFailedExecutionStepException) as info:
        await RequestExecutor(uuid4(), user=None, broker_publisher=broker_publisher).exec(
            SagaOperation(send_wrong_type), SagaContext()
        )
    assert isinstance(info.value.exception, SagaCallbackReturnTypeException)
    assert broker_publisher.messages == []


async def test_request_callback_failure(broker_publisher):
    with pytest.raises(SagaFailedExecutionStepException) as info:
        await RequestExecutor(uuid4(), user=None).exec(SagaOperation(send_failing), SagaContext())
    assert isinstance(info.value.exception, ValueError)
    assert broker_publisher.messages == []


class FailingPublisher(InMemoryBrokerPublisher):
    async def _send(self, message) -> None:
        raise ConnectionError("the broker is down")


async def test_request_publish_failure():
    with pytest.raises(SagaFailedExecutionStepException) as info:
        await RequestExecutor(uuid4(), user=None, broker_publisher=FailingPublisher()).exec(
            SagaOperation(send_create_ticket), SagaContext()
        )
    assert isinstance(info.value.exception, ConnectionError)


async def test_request_publisher_is_injected(broker_publisher):
    await RequestExecutor(uuid4(), user=None).exec(SagaOperation(send_create_ticket), SagaContext())
    assert [message.topic for message in broker_publisher.messages] == ["CreateTicket"]
    with pytest.raises(NotProvidedException):
        RequestExecutor(uuid4(), user=None, broker_publisher=None)
