"""Saga definitions, replies and a failing broker shared by the SagaExecution tests."""

from __future__ import annotations

import pytest
from minos.networks import InMemoryBrokerPublisher

from minos.saga import Saga, SagaContext, SagaExecution, SagaPausedExecutionStepException, SagaResponse
from tests.test_saga.utils import (
    add_amount,
    add_order,
    handle_error,
    handle_payment,
    handle_ticket,
    is_big,
    is_medium,
    send_create_payment,
    send_create_ticket,
    send_delete_payment,
    ticket_steps,
)


def remote_definition() -> Saga:
    """A local step then a remote step, each with its compensation."""
    return ticket_steps().on_error(handle_error).commit()


def reply(execution: SagaExecution, content="t1", status=200, services=("ticket",)) -> SagaResponse:
    """A reply to ``execution`` without a request identifier."""
    return SagaResponse(content, set(services), status, execution.uuid)


async def paused(definition: Saga, context: SagaContext | None = None) -> SagaExecution:
    """An execution of ``definition`` paused at its first remote step."""
    execution = SagaExecution.from_definition(definition, context)
    with pytest.raises(SagaPausedExecutionStepException):
        await execution.execute(autocommit=False)
    return execution


def two_remote_definition() -> Saga:
    """Two remote steps in a row."""
    return (
        Saga()
        .remote_step(send_create_ticket)
        .on_success(handle_ticket)
        .remote_step(send_create_payment)
        .on_success(handle_payment)
        .commit()
    )


class FailingPublisher(InMemoryBrokerPublisher):
    """A broker publisher whose every send fails, as when the broker is down."""

    async def _send(self, message) -> None:
        raise ConnectionError("the broker is down")


def conditional_definition() -> Saga:
    """A conditional step: a remote branch, a local branch and a local else."""
    big = Saga().remote_step(send_create_payment).on_success(handle_payment).on_failure(send_delete_payment).commit()
    medium = Saga().local_step(add_amount, amount=100).on_failure(add_amount, amount=1000).commit()
    other = Saga().local_step(add_order).commit()
    saga = Saga()
    saga.conditional_step().if_then(is_big, big).if_then(is_medium, medium).else_then(other)
    return saga.commit()


def answer(execution: SagaExecution, request, content="t1", status=200) -> SagaResponse:
    """The reply to the published ``request`` as minos' dispatcher builds it: with the request's identifier."""
    return SagaResponse(content, {"ticket"}, status, execution.uuid, request_id=request.identifier)
