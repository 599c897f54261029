"""The optional minos.aggregate integration: callbacks join the saga's transaction, or run plainly without it; and
the two-phase commit's topics, answered by a ``TransactionParticipant``."""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID, uuid4

import pytest
from minos.aggregate import (
    TRANSACTION_CONTEXT_VAR,
    InMemoryEventRepository,
    InMemorySnapshotRepository,
    InMemoryTransactionRepository,
    TransactionEntry,
    TransactionRepository,
    TransactionRepositoryConflictException,
    TransactionStatus,
)
from minos.common import DependencyInjector, Inject, Lock, LockPool, PoolFactory
from minos.networks import (
    REQUEST_HEADERS_CONTEXT_VAR,
    BrokerClientPool,
    BrokerCommandEnrouteDecorator,
    BrokerDispatcher,
    BrokerMessageV1,
    BrokerMessageV1Payload,
    BrokerRequest,
    EnrouteCollector,
    EnrouteFactory,
    InMemoryBrokerPublisher,
    InMemoryBrokerSubscriberBuilder,
    Response,
    ResponseException,
)

import minos.saga
from minos.saga import (
    Saga,
    SagaContext,
    SagaExecution,
    SagaFailedExecutionStepException,
    TransactionParticipant,
    transaction_topic,
    transactional_command,
)

SEEN: list = []


def record_transaction(context: SagaContext) -> SagaContext:
    SEEN.append(TRANSACTION_CONTEXT_VAR.get())
    return context


class FakeLock(Lock):
    def __init__(self, key="fake", *args, **kwargs):
        super().__init__(key, *args, **kwargs)

    async def acquire(self): ...

    async def release(self): ...


class FakeLockPool(LockPool):
    async def _create_instance(self):
        return FakeLock()

    async def _destroy_instance(self, instance): ...


@pytest.fixture
async def aggregate_injector(config):
    SEEN.clear()
    pool_factory = PoolFactory.from_config(config, default_classes={"broker": BrokerClientPool, "lock": FakeLockPool})
    publisher = InMemoryBrokerPublisher()
    transactions = InMemoryTransactionRepository(lock_pool=pool_factory.get_pool("lock"))
    events = InMemoryEventRepository(
        broker_publisher=publisher, transaction_repository=transactions, lock_pool=pool_factory.get_pool("lock")
    )
    snapshots = InMemorySnapshotRepository(event_repository=events, transaction_repository=transactions)
    injector = DependencyInjector(
        config, [pool_factory, publisher, InMemoryBrokerSubscriberBuilder(), transactions, events, snapshots]
    )
    await injector.wire_and_setup_injections(modules=[minos.saga])
    try:
        yield injector
    finally:
        await injector.unwire_and_destroy_injections()


async def test_callback_runs_inside_execution_transaction(aggregate_injector):
    execution = SagaExecution.from_definition(Saga().local_step(record_transaction).commit())
    await execution.execute(autocommit=False)
    [entry] = SEEN
    assert isinstance(entry, TransactionEntry)
    assert entry.uuid == execution.uuid
    assert TRANSACTION_CONTEXT_VAR.get() is None


async def test_each_callback_enters_the_transaction_saving_it_again(aggregate_injector, monkeypatch):
    transactions = Inject.resolve(TransactionRepository)
    saved = []
    submit = transactions.submit

    async def recording_submit(entry):
        saved.append((entry.uuid, entry.status))
        return await submit(entry)

    monkeypatch.setattr(transactions, "submit", recording_submit)
    execution = SagaExecution.from_definition(
        Saga().local_step(record_transaction).local_step(record_transaction).commit()
    )
    await execution.execute(autocommit=False)

    assert saved == [(execution.uuid, TransactionStatus.PENDING)] * 2
    assert [(entry.uuid, entry.status) for entry in SEEN] == [(execution.uuid, TransactionStatus.PENDING)] * 2


async def test_a_callback_after_one_that_rejected_the_transaction_enters_a_new_entry(aggregate_injector):
    async def reject_transaction(context):
        await TRANSACTION_CONTEXT_VAR.get().reject()

    execution = SagaExecution.from_definition(
        Saga().local_step(reject_transaction).local_step(record_transaction).commit()
    )
    with pytest.raises(SagaFailedExecutionStepException) as failure:
        await execution.execute(autocommit=False)

    # As with 0.7.0's entry per callback: the new pending entry cannot be saved over the rejected transaction.
    assert isinstance(failure.value.exception, TransactionRepositoryConflictException)
    assert SEEN == []


async def test_without_aggregate_runs_plainly(aggregate_injector, monkeypatch):
    monkeypatch.setattr("minos.saga.transactions.TransactionEntry", None)
    execution = SagaExecution.from_definition(Saga().local_step(record_transaction).commit())
    await execution.execute(autocommit=False)
    assert SEEN == [None]


async def test_without_transaction_repository_runs_plainly(injector):
    SEEN.clear()
    execution = SagaExecution.from_definition(Saga().local_step(record_transaction).commit())
    await execution.execute(autocommit=False)
    assert SEEN == [None]


async def test_transactional_command_nests_entries(aggregate_injector):
    outer, inner_uuid = uuid4(), uuid4()
    headers = {"transactions": f"{outer},{inner_uuid}"}
    token = REQUEST_HEADERS_CONTEXT_VAR.set(headers)
    try:

        async def inner(request):
            SEEN.append(TRANSACTION_CONTEXT_VAR.get())

        message = BrokerMessageV1("Do", BrokerMessageV1Payload(None, headers={"transactions": headers["transactions"]}))
        await transactional_command(BrokerRequest(message), inner)
    finally:
        REQUEST_HEADERS_CONTEXT_VAR.reset(token)
    [entry] = SEEN
    assert entry.uuid == inner_uuid
    assert entry.destination_uuid == outer
    assert headers == {"transactions": str(outer), "related_services": "order"}


async def test_transactional_command_nests_a_repeated_transaction_on_itself(aggregate_injector):
    transaction = uuid4()
    message = BrokerMessageV1(
        "Do", BrokerMessageV1Payload(None, headers={"transactions": f"{transaction},{transaction}"})
    )

    async def inner(request):
        SEEN.append(TRANSACTION_CONTEXT_VAR.get())

    await transactional_command(BrokerRequest(message), inner)

    [entry] = SEEN
    assert (entry.uuid, entry.destination_uuid) == (transaction, transaction)


async def test_transactional_command_without_aggregate(aggregate_injector, monkeypatch):
    monkeypatch.setattr("minos.saga.transactions.TransactionEntry", None)

    async def inner(request):
        SEEN.append(TRANSACTION_CONTEXT_VAR.get())

    message = BrokerMessageV1("Do", BrokerMessageV1Payload(None, headers={"transactions": str(uuid4())}))
    await transactional_command(BrokerRequest(message), inner)
    assert SEEN == [None]


class RecordingParticipant(TransactionParticipant):
    """Records what the two-phase commit asked of it (minos builds one instance per route, hence the class-level
    record); refuses to reserve the uuids in ``refused``."""

    calls: ClassVar[list[tuple[str, UUID]]] = []
    refused: ClassVar[set[UUID]] = set()

    async def reserve(self, request: BrokerRequest) -> Response:
        uuid = await request.content()
        self.calls.append(("reserve", uuid))
        if uuid in self.refused:
            raise ResponseException(f"{uuid} cannot be committed")
        return Response(uuid)

    async def commit(self, request: BrokerRequest) -> None:
        self.calls.append(("commit", await request.content()))

    async def reject(self, request: BrokerRequest) -> None:
        self.calls.append(("reject", await request.content()))


def test_transaction_topic_names_the_service():
    assert transaction_topic("Reserve", "order") == "_ReserveOrderTransaction"
    assert transaction_topic("Reject", "ticket") == "_RejectTicketTransaction"


def test_transaction_participant_routes_the_configured_service(config):
    routes = EnrouteCollector(RecordingParticipant, config).get_broker_command_query_event()
    assert routes == {
        "reserve": {BrokerCommandEnrouteDecorator("_ReserveOrderTransaction")},
        "commit": {BrokerCommandEnrouteDecorator("_CommitOrderTransaction")},
        "reject": {BrokerCommandEnrouteDecorator("_RejectOrderTransaction")},
    }


async def test_transaction_participant_answers_through_minos_dispatcher(config):
    accepted, refused = uuid4(), uuid4()
    RecordingParticipant.calls.clear()
    RecordingParticipant.refused = {refused}
    publisher = InMemoryBrokerPublisher()
    actions = {
        decorator.topic: handler
        for decorator, handler in EnrouteFactory(RecordingParticipant)
        .get_broker_command_query_event(config=config)
        .items()
    }
    dispatcher = BrokerDispatcher(actions, publisher)
    for topic, uuid in [
        ("_ReserveOrderTransaction", accepted),
        ("_ReserveOrderTransaction", refused),
        ("_CommitOrderTransaction", accepted),
        ("_RejectOrderTransaction", refused),
    ]:
        await dispatcher.dispatch(BrokerMessageV1(topic, BrokerMessageV1Payload(uuid), reply_topic="orderReply"))
    assert RecordingParticipant.calls == [
        ("reserve", accepted),
        ("reserve", refused),
        ("commit", accepted),
        ("reject", refused),
    ]
    assert [(message.topic, message.status, message.content) for message in publisher.messages[:2]] == [
        ("orderReply", 200, accepted),
        ("orderReply", 400, f"ResponseException(message='{refused} cannot be committed')"),
    ]
