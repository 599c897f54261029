"""SagaManager stores the state that awaits a reply, with the exact outgoing messages, before they leave; it then
publishes them and records that it did, and ``recover()`` publishes what a crash or a broker failure left unsent.

Every test runs on the in-memory repository and on PostgreSQL (a database of its own).
"""

from __future__ import annotations

import decimal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any
from unittest.mock import patch
from uuid import UUID, uuid4

import pytest
from minos.common import ConnectionException
from minos.networks import BrokerMessage, InMemoryBrokerPublisher

from minos.saga import (
    InMemorySagaExecutionRepository,
    PostgreSqlSagaExecutionRepository,
    Saga,
    SagaContext,
    SagaExecution,
    SagaExecutionNotFoundException,
    SagaExecutionNotStorableException,
    SagaExecutionRepository,
    SagaFailedExecutionException,
    SagaManager,
    SagaResponse,
    SagaStatus,
)
from tests.test_saga.utils import (
    DocumentRepository,
    handle_ticket,
    reply_message,
    send_create_ticket,
    ticket_and_payment_saga,
)


class Killed(BaseException):
    """Stands for the process dying at that point: nothing after it runs (not even ``except Exception``)."""


@pytest.fixture(params=["memory", "postgresql"])
def storage_factory(request) -> Iterator[Any]:
    """Builds repositories sharing one store (two replicas of a service share a table)."""
    if request.param == "memory":
        shared = InMemorySagaExecutionRepository()
        yield lambda: shared
    else:
        settings = request.getfixturevalue("postgres_database")
        table = f"saga_execution_{uuid4().hex[:8]}"
        yield lambda: PostgreSqlSagaExecutionRepository(table_name=table, **settings)


async def start_manager(storage: SagaExecutionRepository, broker_pool) -> SagaManager:
    manager = SagaManager(storage=storage, broker_pool=broker_pool)
    await manager.setup()
    return manager


@pytest.fixture
async def manager(injector, broker_pool, storage_factory) -> AsyncIterator[SagaManager]:
    manager = await start_manager(storage_factory(), broker_pool)
    yield manager
    await manager.destroy()


def answer(request: BrokerMessage, content: Any = "ok", status: int = 200, **headers: str) -> SagaResponse:
    return SagaResponse.from_message(reply_message(request, content, status, **headers))


def before_each_store(storage: SagaExecutionRepository, before: Callable[[SagaExecution], None]) -> None:
    """Call ``before`` with the execution at each store, whether written at once or kept for the unlock."""

    def hooked(store: Callable[[SagaExecution], Awaitable[None]]) -> Callable[[SagaExecution], Awaitable[None]]:
        async def hook(execution: SagaExecution) -> None:
            before(execution)
            await store(execution)

        return hook

    if type(storage).store_at_unlock is not SagaExecutionRepository.store_at_unlock:  # else it calls store
        storage.store_at_unlock = hooked(storage.store_at_unlock)  # type: ignore[method-assign]
    storage.store = hooked(storage.store)  # type: ignore[method-assign]


def record_stores(storage: SagaExecutionRepository, publisher: InMemoryBrokerPublisher) -> list[tuple[int, list]]:
    """For each store: how many messages were already published, and the identifiers of the stored unsent ones."""
    calls: list[tuple[int, list]] = []
    before_each_store(
        storage,
        lambda execution: calls.append(
            (len(publisher.messages), [pending.identifier for pending in execution.outbox if not pending.sent])
        ),
    )
    return calls


async def test_a_new_saga_is_stored_with_its_request_before_the_request_leaves(manager, broker_publisher):
    stores = record_stores(manager.storage, broker_publisher)
    execution = await manager.run(ticket_and_payment_saga(), pause_on_disk=True, autocommit=False)
    [request] = broker_publisher.messages
    assert stores[0] == (0, [request.identifier])  # stored with the request, nothing published yet
    assert stores[1] == (1, [])  # then: published and recorded as sent
    stored = await manager.storage.load(execution.uuid)
    assert stored.awaited_request == request.identifier
    [pending] = stored.outbox
    assert pending.sent and pending.attempts == 1 and pending.message == request


async def test_a_reply_stores_the_next_request_before_it_leaves(manager, broker_publisher):
    await manager.run(ticket_and_payment_saga(), pause_on_disk=True, autocommit=False)
    stores = record_stores(manager.storage, broker_publisher)
    await manager.run(response=answer(broker_publisher.messages[-1], "t1"), pause_on_disk=True, autocommit=False)
    request = broker_publisher.messages[-1]
    assert request.topic == "CreatePayment"
    assert stores[0] == (1, [request.identifier])


async def test_compensations_are_stored_before_they_leave(manager, broker_publisher):
    execution = await manager.run(ticket_and_payment_saga(), pause_on_disk=True, autocommit=False)
    await manager.run(response=answer(broker_publisher.messages[-1], "t1"), pause_on_disk=True, autocommit=False)
    stores = record_stores(manager.storage, broker_publisher)
    with pytest.raises(SagaFailedExecutionException):
        await manager.run(response=answer(broker_publisher.messages[-1], "no", 500), pause_on_disk=True)
    out = broker_publisher.messages[2:]
    assert [message.topic for message in out] == ["DeleteTicket", "_RejectOrderTransaction"]
    assert stores[0] == (2, [message.identifier for message in out])
    stored = await manager.storage.load(execution.uuid)
    assert stored.status == SagaStatus.Errored and stored.outbox == []  # sent, and no answer is awaited


async def test_a_store_that_fails_while_applying_a_reply_publishes_nothing(manager, broker_publisher):
    execution = await manager.run(ticket_and_payment_saga(), pause_on_disk=True, autocommit=False)
    before = await manager.storage.load(execution.uuid)
    with (
        patch.object(type(manager.storage), "store", side_effect=ConnectionException("database restarting")),
        pytest.raises(ConnectionException),
    ):
        await manager.run(response=answer(broker_publisher.messages[-1], "t1"), pause_on_disk=True)
    assert [message.topic for message in broker_publisher.messages] == ["CreateTicket"]
    stored = await manager.storage.load(execution.uuid)
    assert stored == before and stored.awaited_request == before.awaited_request


async def test_a_crash_before_publishing_is_recovered_with_the_same_message(
    injector, broker_pool, broker_publisher, storage_factory
):
    manager = await start_manager(storage_factory(), broker_pool)
    with patch.object(broker_publisher, "send", side_effect=Killed()), pytest.raises(Killed):
        await manager.run(ticket_and_payment_saga(), pause_on_disk=True, autocommit=False)
    assert broker_publisher.messages == []
    await manager.destroy()

    restarted = await start_manager(storage_factory(), broker_pool)  # recovers on setup
    try:
        [request] = broker_publisher.messages
        assert request.topic == "CreateTicket"
        [uuid] = [UUID(request.headers["saga"])]
        stored = await restarted.storage.load(uuid)
        assert stored.awaited_request == request.identifier and stored.outbox[0].sent
        assert await restarted.recover() == 0
        execution = await restarted.run(response=answer(request, "t1"), pause_on_disk=True, autocommit=False)
        assert execution.status == SagaStatus.Paused and execution.context["ticket"] == "t1"
    finally:
        await restarted.destroy()


async def test_a_crash_after_publishing_before_recording_it_re_publishes_the_same_identity(
    injector, broker_pool, broker_publisher, storage_factory
):
    manager = await start_manager(storage_factory(), broker_pool)
    calls = 0

    def dies_on_second_store(execution: SagaExecution) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise Killed()

    before_each_store(manager.storage, dies_on_second_store)
    with pytest.raises(Killed):
        await manager.run(ticket_and_payment_saga(), pause_on_disk=True, autocommit=False)
    await manager.destroy()
    [first] = broker_publisher.messages

    restarted = await start_manager(storage_factory(), broker_pool)
    try:
        assert [message.identifier for message in broker_publisher.messages] == [first.identifier] * 2
        assert broker_publisher.messages[1] == first
    finally:
        await restarted.destroy()


async def test_a_broker_failure_keeps_the_message_for_recover(manager, broker_publisher):
    with patch.object(broker_publisher, "send", side_effect=ConnectionError("broker down")):
        execution = await manager.run(ticket_and_payment_saga(), pause_on_disk=True, autocommit=False)
    assert execution.status == SagaStatus.Paused and broker_publisher.messages == []
    assert [pending.sent for pending in (await manager.storage.load(execution.uuid)).outbox] == [False]

    assert await manager.recover() == 1
    [request] = broker_publisher.messages
    assert request.identifier == (await manager.storage.load(execution.uuid)).awaited_request
    assert await manager.recover() == 0


async def test_replicas_recover_each_message_once(injector, broker_pool, broker_publisher, storage_factory):
    first = await start_manager(storage_factory(), broker_pool)
    second = await start_manager(storage_factory(), broker_pool)
    try:
        with patch.object(broker_publisher, "send", side_effect=ConnectionError("broker down")):
            for _ in range(3):
                await first.run(ticket_and_payment_saga(), pause_on_disk=True, autocommit=False)
        assert await second.recover() + await first.recover() == 3
        assert len({message.identifier for message in broker_publisher.messages}) == 3
        assert len(broker_publisher.messages) == 3
    finally:
        await first.destroy()
        await second.destroy()


UNSTORABLE: list[Any] = []  # the value the local step below puts (a step's parameters must be storable themselves)


def put_unstorable_value(context: SagaContext) -> SagaContext:
    context["value"] = UNSTORABLE[0]
    return context


@pytest.mark.parametrize(
    "value", [(1, 2), 2**64, "\ud800", decimal.Decimal("1.5")], ids=["tuple", "2**64", "surrogate", "decimal"]
)
async def test_a_value_that_cannot_be_stored_fails_before_anything_leaves(manager, broker_publisher, value):
    saga = Saga()
    saga.local_step(put_unstorable_value)
    saga.remote_step(send_create_ticket).on_success(handle_ticket)
    UNSTORABLE.append(value)
    try:
        with pytest.raises(SagaExecutionNotStorableException):
            await manager.run(saga.commit(), pause_on_disk=True, autocommit=False)
    finally:
        UNSTORABLE.clear()
    assert broker_publisher.messages == []
    assert await manager.recover() == 0  # nothing was stored


async def test_a_nul_in_a_reply_header_fails_before_anything_leaves(manager, broker_publisher):
    execution = await manager.run(ticket_and_payment_saga(), pause_on_disk=True, autocommit=False)
    before = await manager.storage.load(execution.uuid)
    with pytest.raises(SagaExecutionNotStorableException):
        await manager.run(
            response=answer(broker_publisher.messages[-1], "t1", related_services="tick\x00et"), pause_on_disk=True
        )
    assert [message.topic for message in broker_publisher.messages] == ["CreateTicket"]
    stored = await manager.storage.load(execution.uuid)
    assert stored == before and stored.awaited_request == before.awaited_request


async def test_a_finished_saga_is_deleted_once_its_messages_are_out(manager, broker_publisher):
    execution = await manager.run(ticket_and_payment_saga(), pause_on_disk=True, autocommit=False)
    await manager.run(response=answer(broker_publisher.messages[-1], "t1"), pause_on_disk=True, autocommit=False)
    await manager.run(response=answer(broker_publisher.messages[-1], "p1"), pause_on_disk=True, autocommit=False)
    with pytest.raises(SagaExecutionNotFoundException):
        await manager.storage.load(execution.uuid)


DELETES = ("delete", "delete_at_unlock")  # at once, or kept for the unlock


async def test_a_delete_that_fails_at_the_end_leaves_the_saga_finished_until_recovery(manager, broker_publisher):
    execution = await manager.run(ticket_and_payment_saga(), pause_on_disk=True)
    await manager.run(
        response=answer(broker_publisher.messages[-1], "t1", related_services="ticket"), pause_on_disk=True
    )
    await manager.run(response=answer(broker_publisher.messages[-1], "p1"), pause_on_disk=True)
    reservations = [message for message in broker_publisher.messages if message.topic.startswith("_Reserve")]
    assert len(reservations) == 2
    await manager.run(response=answer(reservations[0]), pause_on_disk=True)
    restarting = ConnectionException("database restarting")
    deletes_fail = [patch.object(type(manager.storage), name, side_effect=restarting) for name in DELETES]
    with deletes_fail[0], deletes_fail[1], pytest.raises(ConnectionException):
        await manager.run(response=answer(reservations[1]), pause_on_disk=True)
    assert {message.topic for message in broker_publisher.messages if message.topic.startswith("_Commit")} == {
        "_CommitOrderTransaction",
        "_CommitTicketTransaction",
    }
    stored = await manager.storage.load(execution.uuid)
    assert stored.status == SagaStatus.Finished  # listed as finished, never as paused
    assert [pending.message.topic for pending in stored.outbox if not pending.sent] == [
        "_CommitOrderTransaction",
        "_CommitTicketTransaction",
    ]  # published, but not recorded as such: recovery sends them again (same identifiers), then deletes
    assert await manager.recover() == 2
    with pytest.raises(SagaExecutionNotFoundException):
        await manager.storage.load(execution.uuid)


def test_only_a_repository_that_lists_unsent_messages_finds_them():
    assert InMemorySagaExecutionRepository().finds_unsent
    assert not DocumentRepository().finds_unsent


@pytest.fixture
async def unlisted_manager(injector, broker_pool) -> AsyncIterator[SagaManager]:
    manager = await start_manager(DocumentRepository(), broker_pool)
    yield manager
    await manager.destroy()


async def test_without_recovery_each_state_is_stored_once_with_its_requests_as_sent_before_they_leave(
    unlisted_manager, broker_publisher
):
    stores = record_stores(unlisted_manager.storage, broker_publisher)
    execution = await unlisted_manager.run(ticket_and_payment_saga(), pause_on_disk=True, autocommit=False)
    await unlisted_manager.run(
        response=answer(broker_publisher.messages[-1], "t1"), pause_on_disk=True, autocommit=False
    )

    assert stores == [(0, []), (1, [])]  # one store per pause, written before its request left
    ticket, payment = broker_publisher.messages
    assert payment.topic == "CreatePayment"
    stored = await unlisted_manager.storage.load(execution.uuid)
    assert stored.awaited_request == payment.identifier
    [pending] = stored.outbox
    assert pending.sent and pending.attempts == 1 and pending.message == payment


async def test_without_recovery_a_broker_failure_stores_the_message_as_unsent_for_the_next_publication(
    unlisted_manager, broker_publisher
):
    stores = record_stores(unlisted_manager.storage, broker_publisher)
    with patch.object(broker_publisher, "send", side_effect=ConnectionError("broker down")):
        execution = await unlisted_manager.run(ticket_and_payment_saga(), pause_on_disk=True, autocommit=False)
    stored = await unlisted_manager.storage.load(execution.uuid)
    [pending] = stored.outbox
    assert stores == [(0, []), (0, [pending.identifier])]
    assert not pending.sent and pending.attempts == 0
    assert broker_publisher.messages == []

    await unlisted_manager.retry(execution.uuid)  # an operator sends it again

    [request] = broker_publisher.messages
    assert request.identifier == pending.identifier
    assert [
        (pending.sent, pending.attempts) for pending in (await unlisted_manager.storage.load(execution.uuid)).outbox
    ] == [(True, 1)]
