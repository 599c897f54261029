"""Module-level callbacks (definitions are stored by import path) and a broker responder for the tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any
from uuid import UUID

from minos.networks import BrokerMessage, BrokerMessageV1, BrokerMessageV1Payload, InMemoryBrokerPublisher
from minos.networks import BrokerMessageV1Status as Status

from minos.saga import (
    RemoteSagaStep,
    Saga,
    SagaContext,
    SagaExecution,
    SagaExecutionNotFoundException,
    SagaExecutionRepository,
    SagaRequest,
    SagaResponse,
)
from tests.helpers import NotifyingBrokerPublisher, subscriber_of


def add_order(context: SagaContext) -> SagaContext:
    context["order"] = "created"
    return context


def delete_order(context: SagaContext) -> SagaContext:
    context["order"] = "deleted"
    return context


def add_amount(context: SagaContext, amount: int = 1) -> SagaContext:
    context["amount"] = context.get("amount", 0) + amount
    return context


async def async_mark(context: SagaContext) -> SagaContext:
    context["async"] = True
    return context


def mutate_then_fail(context: SagaContext) -> SagaContext:
    context["order"] = "broken"
    raise ValueError("local failure")


def fail_local(context: SagaContext) -> SagaContext:
    raise ValueError("compensation failure")


def return_none(context: SagaContext) -> None:
    context["ignored"] = True


def return_int(context: SagaContext) -> int:
    return 42


def return_dict(context: SagaContext) -> dict:
    return {"a": 1}


def send_create_ticket(context: SagaContext) -> SagaRequest:
    return SagaRequest("CreateTicket", {"order": context.get("order")})


def send_delete_ticket(context: SagaContext) -> SagaRequest:
    return SagaRequest("DeleteTicket", {"order": context.get("order")})


def send_create_payment(context: SagaContext) -> SagaRequest:
    return SagaRequest("CreatePayment", {"amount": context.get("amount")})


def send_delete_payment(context: SagaContext) -> SagaRequest:
    return SagaRequest("DeletePayment")


def send_wrong_type(context: SagaContext) -> str:
    return "not a request"


def send_failing(context: SagaContext) -> SagaRequest:
    raise ValueError("request failure")


async def handle_ticket(context: SagaContext, response: SagaResponse) -> SagaContext:
    context["ticket"] = await response.content()
    return context


async def handle_payment(context: SagaContext, response: SagaResponse) -> SagaContext:
    context["payment"] = await response.content()
    return context


async def handle_error(context: SagaContext, response: SagaResponse) -> SagaContext:
    context["error"] = await response.content()
    return context


def handle_raising(context: SagaContext, response: SagaResponse) -> SagaContext:
    raise ValueError("reply failure")


def handle_returning_exception(context: SagaContext, response: SagaResponse) -> Exception:
    return ValueError("returned failure")


def handle_wrong_type(context: SagaContext, response: SagaResponse) -> str:
    return "not a context"


def is_big(context: SagaContext) -> bool:
    return context.get("amount", 0) > 10


async def is_medium(context: SagaContext) -> bool:
    return context.get("amount", 0) > 5


def always(context: SagaContext) -> bool:
    return True


Reply = Callable[[BrokerMessage], Any]


def reply_message(request: BrokerMessage, content: Any = None, status: int = 200, **headers: str) -> BrokerMessage:
    """The reply minos' dispatcher sends: the request headers echoed, on the request's reply topic, with the request's
    identifier."""
    payload = BrokerMessageV1Payload(content, headers=dict(request.headers) | headers, status=Status(status))
    return BrokerMessageV1(request.reply_topic, payload, identifier=request.identifier)


@asynccontextmanager
async def responder(
    publisher: NotifyingBrokerPublisher,
    answer: Callable[[BrokerMessage], tuple[int, Any] | None],
) -> AsyncIterator[list[BrokerMessage]]:
    """Answer the messages published from now on, on the broker client waiting on their reply topic.

    ``answer(message)`` returns ``(status, content)``, or None to leave the message unanswered. Yields the answered
    requests.
    """
    answered: list[BrokerMessage] = []

    async def _loop(index: int) -> None:
        while True:
            message = await publisher.wait_for_message(index)
            index += 1
            if (result := answer(message)) is not None:
                status, content = result
                answered.append(message)
                subscriber_of(message.reply_topic).add_message(reply_message(message, content, status))

    # Counted now, not when the task first runs: what is published before then must be answered too.
    task = asyncio.create_task(_loop(len(publisher.messages)))
    try:
        yield answered
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task  # re-raises what stopped the loop (a message nobody waits for)


def answer_all(status: int = 200, content: Any = "ok") -> Callable[[BrokerMessage], tuple[int, Any]]:
    return lambda message: (status, content)


def answer_reserves(status: int = 200) -> Callable[[BrokerMessage], tuple[int, Any] | None]:
    return lambda message: (status, None) if message.topic.startswith("_Reserve") else None


def ticket_steps(saga: Saga | None = None) -> RemoteSagaStep:
    """The ticket steps added to ``saga`` (a new one by default), not committed: a local step (``add_order``,
    compensated by ``delete_order``), then a remote one (``CreateTicket``, handled by ``handle_ticket``, compensated by
    ``DeleteTicket``). Returns that remote step, to add to it or to commit."""
    return (
        (saga or Saga())
        .local_step(add_order)
        .on_failure(delete_order)
        .remote_step(send_create_ticket)
        .on_success(handle_ticket)
        .on_failure(send_delete_ticket)
    )


def ticket_saga() -> Saga:
    """The ticket steps, committed."""
    return ticket_steps().commit()


def ticket_and_payment_saga() -> Saga:
    """The ticket steps, then a remote step (``CreatePayment``, handled by ``handle_payment``)."""
    return ticket_steps().remote_step(send_create_payment).on_success(handle_payment).commit()


def topics(publisher: InMemoryBrokerPublisher) -> list[str]:
    """The topics of the messages ``publisher`` sent, in order."""
    return [message.topic for message in publisher.messages]


class DocumentRepository(SagaExecutionRepository):
    """JSON documents by uuid, which it cannot search: like 0.7.0's database repository, it lists no unsent message."""

    def __init__(self) -> None:
        super().__init__()
        self.documents: dict[UUID, str] = {}

    async def _store(self, execution: SagaExecution) -> None:
        self.documents[execution.uuid] = json.dumps(execution.raw)

    async def _load(self, uuid: UUID) -> SagaExecution:
        if uuid not in self.documents:
            raise SagaExecutionNotFoundException(f"{uuid} is not stored.")
        return SagaExecution.from_raw(json.loads(self.documents[uuid]))

    async def _delete(self, uuid: UUID) -> None:
        self.documents.pop(uuid, None)
