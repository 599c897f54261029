"""SagaManager's operator actions (retry, compensate, abandon) against the real PostgreSQL repository, each followed by
the reply that arrives too late."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import pytest

from minos.saga import (
    PostgreSqlSagaExecutionRepository,
    Saga,
    SagaContext,
    SagaExecution,
    SagaExecutionNotFoundException,
    SagaManager,
    SagaOperatorActionException,
    SagaResponse,
    SagaStatus,
)
from tests.test_saga.utils import (
    add_order,
    reply_message,
    send_create_ticket,
    ticket_saga,
)


@pytest.fixture
async def manager(injector, broker_pool, postgres_database: dict[str, Any]) -> AsyncIterator[SagaManager]:
    storage = PostgreSqlSagaExecutionRepository(table_name=f"saga_{uuid4().hex[:8]}", **postgres_database)
    manager = SagaManager(storage=storage, broker_pool=broker_pool)
    await manager.setup()
    yield manager
    await manager.destroy()


@pytest.fixture
async def paused(manager, broker_publisher) -> SagaExecution:
    """An execution paused on its remote step, whose CreateTicket request went out."""
    execution = await manager.run(ticket_saga(), SagaContext(), pause_on_disk=True, autocommit=False)
    assert execution.status == SagaStatus.Paused
    assert broker_publisher.messages[-1].topic == "CreateTicket"
    return execution


async def late_reply(manager: SagaManager, request, status: int = 200) -> SagaExecution:
    response = SagaResponse.from_message(reply_message(request, "ticket-1", status))
    return await manager.run(response=response, pause_on_disk=True, autocommit=False, raise_on_error=False)


async def test_retry_resends_the_request_with_its_identity(manager, broker_publisher, paused):
    request = broker_publisher.messages[-1]
    retried = await manager.retry(paused.uuid, reason="stock was down")
    resent = broker_publisher.messages[-1]
    assert len(broker_publisher.messages) == 2
    assert (resent.topic, resent.identifier, resent.headers["saga"]) == (
        "CreateTicket",
        request.identifier,
        str(paused.uuid),
    )
    assert resent.content == request.content
    stored = await manager.storage.load(paused.uuid)
    assert [(d.action, d.reason) for d in stored.decisions] == [("retry", "stock was down")]
    assert [pending.attempts for pending in stored.outbox] == [2]
    assert retried.status == SagaStatus.Paused

    finished = await late_reply(manager, resent)  # the participant answers the re-sent request: the saga goes on
    assert finished.status == SagaStatus.Finished
    assert finished.context["ticket"] == "ticket-1"


async def test_compensate_undoes_the_in_flight_step_and_ignores_the_late_reply(manager, broker_publisher, paused):
    request = broker_publisher.messages[-1]
    compensated = await manager.compensate(str(paused.uuid), reason="customer cancelled")
    topics = [message.topic for message in broker_publisher.messages[1:]]
    assert "DeleteTicket" in topics  # the in-flight step's compensation: its participant may have acted
    assert compensated.status == SagaStatus.Errored and compensated.already_rollback
    assert compensated.context["order"] == "deleted"  # delete_order, the first step's compensation, ran too
    sent = len(broker_publisher.messages)

    late = await late_reply(manager, request)
    stored = await manager.storage.load(paused.uuid)
    assert (late.status, stored.status) == (SagaStatus.Errored, SagaStatus.Errored)
    assert "ticket" not in stored.context
    assert len(broker_publisher.messages) == sent  # nothing more went out
    assert [d.action for d in stored.decisions] == ["compensate"]
    with pytest.raises(SagaOperatorActionException):
        await manager.compensate(paused.uuid)


async def test_abandon_sends_nothing_and_ignores_the_late_reply(manager, broker_publisher, paused):
    request = broker_publisher.messages[-1]
    abandoned = await manager.abandon(paused.uuid, reason="settled by hand, ticket #88")
    assert abandoned.status == SagaStatus.Errored and not abandoned.already_rollback
    assert broker_publisher.messages == [request]

    late = await late_reply(manager, request)
    assert late.status == SagaStatus.Errored
    assert await manager.recover() == 0
    assert broker_publisher.messages == [request]
    stored = await manager.storage.load(paused.uuid)
    assert [(d.action, d.reason) for d in stored.decisions] == [("abandon", "settled by hand, ticket #88")]
    with pytest.raises(SagaOperatorActionException):
        await manager.retry(paused.uuid)


async def test_actions_refuse_what_does_not_apply(manager, broker_publisher):
    with pytest.raises(SagaExecutionNotFoundException):
        await manager.retry(uuid4())
    with pytest.raises(SagaExecutionNotFoundException):
        await manager.abandon("not-a-uuid")
    with pytest.raises(TypeError):
        await manager.abandon(uuid4(), reason=42)  # type: ignore[arg-type]
    errored = await manager.run(
        Saga().local_step(add_order).remote_step(send_create_ticket).commit(),
        pause_on_disk=True,
        autocommit=False,
    )
    await late_reply(manager, broker_publisher.messages[-1], status=500)
    with pytest.raises(SagaOperatorActionException):
        await manager.retry(errored.uuid)
    assert (await manager.storage.load(errored.uuid)).decisions == []  # a refused action records nothing


async def test_an_action_waits_for_the_execution_lock(manager, broker_publisher, paused):
    async with manager.storage.lock(paused.uuid):
        action = asyncio.ensure_future(manager.abandon(paused.uuid))
        for _ in range(20):
            await asyncio.sleep(0)
        assert not action.done()
        assert (await manager.storage.load(paused.uuid)).status == SagaStatus.Paused
    assert (await action).status == SagaStatus.Errored
