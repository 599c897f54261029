"""TransactionCommitter: the (uuid, service) pairs and the reserve/commit/reject rounds."""

from __future__ import annotations

import asyncio
from uuid import uuid4

import pytest
from minos.common import NotProvidedException
from minos.networks import InMemoryBrokerPublisher

import minos.saga
from minos.saga import (
    ConditionalSagaStepExecution,
    LocalSagaStepExecution,
    RemoteSagaStepExecution,
    Saga,
    SagaExecution,
    SagaFailedCommitCallbackException,
    SagaStatus,
    TransactionCommitter,
)
from tests.test_saga.utils import add_order, answer_reserves, responder, send_create_ticket, topics

pytestmark = pytest.mark.usefixtures("injector")


def steps(outer, inner):
    definition = Saga().local_step(add_order).remote_step(send_create_ticket).commit()
    conditional = Saga()
    conditional.conditional_step().if_then(add_order, definition)
    conditional = conditional.commit()
    inner_execution = SagaExecution(
        definition, inner, None, SagaStatus.Finished, steps=[LocalSagaStepExecution(definition.steps[0], {"stock"})]
    )
    return [
        LocalSagaStepExecution(definition.steps[0], {"order"}),
        RemoteSagaStepExecution(definition.steps[1], {"order", "ticket"}),
        ConditionalSagaStepExecution(conditional.steps[0], {"order"}, inner=inner_execution),
        ConditionalSagaStepExecution(conditional.steps[0], {"order"}),
    ]


def test_transactions_sorted_unique_with_inner(broker_publisher):
    outer, inner = uuid4(), uuid4()
    committer = TransactionCommitter(outer, steps(outer, inner), broker_publisher=broker_publisher)
    assert committer.transactions == sorted([(outer, "order"), (outer, "ticket"), (inner, "stock")])


def test_transactions_empty(broker_publisher):
    assert TransactionCommitter(uuid4(), [], broker_publisher=broker_publisher).transactions == []


async def test_commit_ok(broker_publisher, broker_pool):
    uuid = uuid4()
    committer = TransactionCommitter(uuid, steps(uuid, uuid4())[:2])
    assert committer.broker_pool is broker_pool  # from the injected pool factory
    async with responder(broker_publisher, answer_reserves(200)):
        await asyncio.wait_for(committer.commit(), 2)
    assert topics(broker_publisher) == [
        "_ReserveOrderTransaction",
        "_ReserveTicketTransaction",
        "_CommitOrderTransaction",
        "_CommitTicketTransaction",
    ]
    assert {message.content for message in broker_publisher.messages} == {uuid}


async def test_commit_refused(broker_publisher, broker_pool):
    uuid = uuid4()
    committer = TransactionCommitter(uuid, steps(uuid, uuid4())[:2], broker_pool=broker_pool)

    def answer(message):
        if message.topic == "_ReserveTicketTransaction":
            return 400, None
        return answer_reserves(200)(message)

    async with responder(broker_publisher, answer):
        with pytest.raises(ValueError):
            await asyncio.wait_for(committer.commit(), 2)
    assert topics(broker_publisher)[2:] == ["_RejectOrderTransaction", "_RejectTicketTransaction"]


async def test_reject(broker_publisher):
    uuid = uuid4()
    await TransactionCommitter(uuid, steps(uuid, uuid4())[:1]).reject()
    assert topics(broker_publisher) == ["_RejectOrderTransaction"]


class FailingPublisher(InMemoryBrokerPublisher):
    """A broker that cannot send anything (it counts the attempts)."""

    attempts = 0

    async def _send(self, message) -> None:
        self.attempts += 1
        raise ConnectionError("the broker is down")


async def test_reject_tries_every_participant_then_raises():
    uuid, publisher = uuid4(), FailingPublisher()
    committer = TransactionCommitter(uuid, steps(uuid, uuid4())[:2], broker_publisher=publisher)
    with pytest.raises(SagaFailedCommitCallbackException) as info:
        await committer.reject()
    assert isinstance(info.value.exception, ConnectionError)
    assert publisher.attempts == 2  # order and ticket


def test_without_a_broker_pool_raises_when_constructed(config):
    from minos.common import DependencyInjector

    injector = DependencyInjector(config, [InMemoryBrokerPublisher()])
    injector.wire_injections(modules=[minos.saga])
    try:
        with pytest.raises(NotProvidedException):
            TransactionCommitter(uuid4(), [])
        with pytest.raises(NotProvidedException):
            TransactionCommitter(uuid4(), [], broker_pool=None, broker_publisher=InMemoryBrokerPublisher())
    finally:
        injector.unwire_injections()
