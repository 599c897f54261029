"""SagaManager: pause on disk / on memory, storage of finished and failed executions, users, headers, replies."""

from __future__ import annotations

import asyncio
import warnings
from unittest.mock import PropertyMock, patch
from uuid import UUID, uuid4

import pytest
from minos.common import NotProvidedException
from minos.networks import (
    REQUEST_HEADERS_CONTEXT_VAR,
    REQUEST_USER_CONTEXT_VAR,
    BrokerClient,
    BrokerMessageV1,
    BrokerMessageV1Payload,
)

from minos.saga import (
    DatabaseSagaExecutionRepository,
    InMemorySagaExecutionRepository,
    Saga,
    SagaContext,
    SagaExecution,
    SagaExecutionFormatException,
    SagaExecutionNotFoundException,
    SagaFailedExecutionException,
    SagaFailedExecutionStepException,
    SagaManager,
    SagaResponse,
    SagaResponseStatusException,
    SagaRollbackExecutionException,
    SagaStatus,
    SagaStepStatus,
)
from tests.test_saga.utils import (
    DocumentRepository,
    add_amount,
    add_order,
    delete_order,
    fail_local,
    handle_ticket,
    mutate_then_fail,
    reply_message,
    responder,
    send_create_ticket,
    ticket_and_payment_saga,
    topics,
)

TIMEOUT = 3


def answer_everything(message):
    """Participants accept every request and reservation; ``CreateTicket`` replies carry the ``ticket`` service."""
    if message.topic.startswith(("_Commit", "_Reject")):
        return None
    return 200, f"{message.topic}-ok"


@pytest.fixture
def storage() -> InMemorySagaExecutionRepository:
    return InMemorySagaExecutionRepository()


@pytest.fixture
async def manager(injector, storage, broker_pool) -> SagaManager:
    manager = SagaManager(storage=storage, broker_pool=broker_pool)
    await manager.setup()
    yield manager
    await manager.destroy()


def response_to(message, content="ok", status=200, **headers) -> SagaResponse:
    return SagaResponse.from_message(reply_message(message, content, status, **headers))


# -- construction -------------------------------------------------------------------------------------------------


def test_requires_broker_pool(injector):
    with pytest.raises(NotProvidedException):
        SagaManager(storage=InMemorySagaExecutionRepository(), broker_pool=None, pool_factory=None)


def test_broker_pool_from_injected_pool_factory(injector, broker_pool):
    assert SagaManager(storage=InMemorySagaExecutionRepository()).broker_pool is broker_pool


def test_from_config_default_repository(injector, config):
    import minos.saga.testing  # noqa: F401  (registers the factory for MockedDatabaseClient)

    manager = SagaManager.from_config(config)
    assert type(manager.storage) is DatabaseSagaExecutionRepository


def test_from_config_repository_class_path(injector, tmp_path):
    from minos.common import Config

    from tests.helpers import CONFIG_FILE_PATH

    text = CONFIG_FILE_PATH.read_text().replace(
        "  saga:\n    client: minos.common.testing.MockedDatabaseClient\n",
        "  saga:\n    client: minos.common.testing.MockedDatabaseClient\n"
        "    repository: minos.saga.InMemorySagaExecutionRepository\n",
    )
    assert "repository:" in text
    (tmp_path / "config.yml").write_text(text)
    manager = SagaManager.from_config(Config(tmp_path / "config.yml"))
    assert type(manager.storage) is InMemorySagaExecutionRepository


async def test_from_config_injected_repository_wins(config):
    from minos.common import DependencyInjector, PoolFactory
    from minos.networks import InMemoryBrokerPublisher, InMemoryBrokerSubscriberBuilder

    import minos.saga

    repository = InMemorySagaExecutionRepository()
    repository.get_injectable_name = lambda: "saga_execution_repository"  # instance-level name for the container
    injector = DependencyInjector(
        config,
        [
            PoolFactory.from_config(config),
            InMemoryBrokerPublisher(),
            InMemoryBrokerSubscriberBuilder(),
            repository,
        ],
    )
    await injector.wire_and_setup_injections(modules=[minos.saga])
    try:
        assert SagaManager.from_config(config).storage is repository
    finally:
        await injector.unwire_and_destroy_injections()


# -- pause on disk ------------------------------------------------------------------------------------------------


async def test_pause_on_disk_stores_and_resumes(manager, storage, broker_publisher):
    execution = await manager.run(ticket_and_payment_saga(), SagaContext(amount=3), pause_on_disk=True)
    assert execution.status == SagaStatus.Paused
    assert await storage.load(execution.uuid) == execution
    request = broker_publisher.messages[-1]
    assert request.topic == "CreateTicket"
    assert request.reply_topic == "orderReply"

    execution = await manager.run(response=response_to(request, "t1", related_services="ticket"), pause_on_disk=True)
    assert execution.status == SagaStatus.Paused
    assert execution.context == SagaContext(amount=3, order="created", ticket="t1")
    assert (await storage.load(execution.uuid)).status == SagaStatus.Paused

    request = broker_publisher.messages[-1]
    assert request.topic == "CreatePayment"
    execution = await manager.run(response=response_to(request, "p1"), pause_on_disk=True)
    assert execution.status == SagaStatus.Paused  # the commit waits for the reservations, on disk too
    assert await storage.load(execution.uuid) == execution

    reservations = [message for message in broker_publisher.messages if message.topic.startswith("_Reserve")]
    assert len(reservations) == 2
    for reservation in reservations:
        uuid = await manager.run(response=response_to(reservation), pause_on_disk=True, return_execution=False)
    assert uuid == execution.uuid
    with pytest.raises(SagaExecutionNotFoundException):
        await storage.load(uuid)  # finished executions are deleted
    assert "_CommitTicketTransaction" in topics(broker_publisher)


async def test_duplicate_reply_runs_step_once(manager, storage, broker_publisher):
    execution = await manager.run(ticket_and_payment_saga(), pause_on_disk=True, autocommit=False)
    response = response_to(broker_publisher.messages[-1], "t1")
    await manager.run(response=response, pause_on_disk=True, autocommit=False)
    published = len(broker_publisher.messages)
    stored = await storage.load(execution.uuid)

    again = await manager.run(response=response, pause_on_disk=True, autocommit=False)
    assert again.status == SagaStatus.Paused
    assert len(broker_publisher.messages) == published  # CreatePayment not sent twice
    assert await storage.load(execution.uuid) == stored


async def test_reply_for_unknown_execution(manager, storage, broker_publisher):
    execution = await manager.run(ticket_and_payment_saga(), pause_on_disk=True, autocommit=False)
    stored = await storage.load(execution.uuid)
    with pytest.raises(SagaExecutionNotFoundException):
        await manager.run(response=SagaResponse("x", uuid=uuid4()), pause_on_disk=True)
    assert await storage.load(execution.uuid) == stored


async def test_reply_with_bad_status(manager, storage, broker_publisher):
    execution = await manager.run(ticket_and_payment_saga(), pause_on_disk=True, autocommit=False)
    stored = await storage.load(execution.uuid)
    message = reply_message(broker_publisher.messages[-1], "x", 200)
    message.payload.status = 600  # a status no participant should send
    with pytest.raises(SagaResponseStatusException):
        SagaResponse.from_message(message)
    assert await storage.load(execution.uuid) == stored


async def test_unknown_format_document(injector, broker_pool, broker_publisher):
    storage = DocumentRepository()  # it stores ``execution.raw`` as is, which this test replaces
    manager = SagaManager(storage=storage, broker_pool=broker_pool)
    await manager.setup()
    try:
        execution = await manager.run(ticket_and_payment_saga(), pause_on_disk=True, autocommit=False)
        future_document = execution.raw | {"orchestrator": {"format": 999}}
        with patch.object(SagaExecution, "raw", new_callable=PropertyMock, return_value=future_document):
            await storage.store(execution)
        with pytest.raises(SagaExecutionFormatException):
            await manager.run(response=response_to(broker_publisher.messages[-1]), pause_on_disk=True)
        with pytest.raises(SagaExecutionFormatException):
            await storage.load(execution.uuid)  # still the future document: nothing overwrote it
    finally:
        await manager.destroy()


# -- pause on memory ----------------------------------------------------------------------------------------------


async def test_pause_on_memory(manager, storage, broker_publisher, broker_pool):
    async with responder(broker_publisher, answer_everything) as answered:
        execution = await asyncio.wait_for(manager.run(ticket_and_payment_saga(), SagaContext(amount=1)), TIMEOUT)
    assert execution.status == SagaStatus.Finished
    assert execution.context == SagaContext(
        amount=1, order="created", ticket="CreateTicket-ok", payment="CreatePayment-ok"
    )
    assert [message.topic for message in answered][:2] == ["CreateTicket", "CreatePayment"]
    assert answered[0].reply_topic != "orderReply"  # the waiting client's topic
    assert "_CommitOrderTransaction" in topics(broker_publisher)
    with pytest.raises(SagaExecutionNotFoundException):
        await storage.load(execution.uuid)


async def test_pause_on_memory_ignores_other_replies(manager, broker_publisher, broker_pool):
    def answer(message):
        if message.topic.startswith(("_Commit", "_Reject")):
            return None
        return 200, "ok"

    definition = Saga().remote_step(send_create_ticket).on_success(handle_ticket).commit()
    async with responder(broker_publisher, answer):
        # a stray reply for another execution sits first in the client's queue
        async with broker_pool.acquire() as client:
            client.subscriber.add_message(
                BrokerMessageV1(client.topic, BrokerMessageV1Payload("stray", headers={"saga": str(uuid4())}))
            )
        execution = await asyncio.wait_for(manager.run(definition), TIMEOUT)
    assert execution.context == SagaContext(ticket="ok")


async def test_autocommit_false_does_not_commit(manager, broker_publisher, broker_pool):
    async with responder(broker_publisher, answer_everything):
        execution = await asyncio.wait_for(manager.run(ticket_and_payment_saga(), autocommit=False), TIMEOUT)
    assert execution.status == SagaStatus.Finished
    assert not any(topic.startswith(("_Reserve", "_Commit")) for topic in topics(broker_publisher))


async def failing_receive(self, *args, **kwargs):
    raise ConnectionError("the broker is down")


@pytest.mark.parametrize("raise_on_error", [True, False])
async def test_pause_on_memory_receive_failure(manager, storage, broker_publisher, raise_on_error):
    definition = Saga().local_step(add_order).on_failure(delete_order).remote_step(send_create_ticket).commit()
    with patch.object(BrokerClient, "receive", failing_receive):
        if raise_on_error:
            with pytest.raises(SagaFailedExecutionException) as info:
                await asyncio.wait_for(manager.run(definition), TIMEOUT)
            assert isinstance(info.value.exception, ConnectionError)
        else:
            execution = await asyncio.wait_for(manager.run(definition, raise_on_error=False), TIMEOUT)
            assert execution.status == SagaStatus.Errored
    [summary] = await storage.list()
    stored = await storage.load(summary.uuid)
    assert stored.status == SagaStatus.Errored
    assert stored.context == SagaContext(order="created")  # as in 0.7.0: rejected, not compensated
    assert topics(broker_publisher) == ["CreateTicket", "_RejectOrderTransaction"]


# -- failures -----------------------------------------------------------------------------------------------------


async def test_failed_execution_is_stored_and_raised(manager, storage, broker_publisher):
    definition = Saga().local_step(add_amount).local_step(mutate_then_fail).commit()
    with pytest.raises(SagaFailedExecutionStepException):
        await manager.run(definition, SagaContext(amount=1))
    [summary] = await storage.list()
    assert summary.status == SagaStatus.Errored
    assert (await storage.load(summary.uuid)).context == SagaContext(amount=2)


async def test_failed_compensation_is_stored_and_raised(manager, storage, broker_publisher):
    definition = Saga().local_step(add_amount).on_failure(fail_local).local_step(mutate_then_fail).commit()
    with pytest.raises(SagaRollbackExecutionException):
        await manager.run(definition, SagaContext(amount=1))
    [summary] = await storage.list()
    stored = await storage.load(summary.uuid)
    assert stored.status == SagaStatus.Errored and stored.already_rollback
    assert stored.executed_steps[0].status == SagaStepStatus.ErroredOnFailure


async def test_raise_on_error_false(manager, storage, broker_publisher):
    definition = Saga().local_step(mutate_then_fail).commit()
    execution = await manager.run(definition, raise_on_error=False)
    assert execution.status == SagaStatus.Errored
    assert (await storage.load(execution.uuid)).status == SagaStatus.Errored
    uuid = await manager.run(definition, raise_on_error=False, return_execution=False)
    assert isinstance(uuid, UUID)


async def test_failed_reply_on_disk(manager, storage, broker_publisher):
    execution = await manager.run(ticket_and_payment_saga(), pause_on_disk=True, autocommit=False)
    response = response_to(broker_publisher.messages[-1], "boom", 500)
    execution = await manager.run(response=response, pause_on_disk=True, raise_on_error=False)
    assert execution.status == SagaStatus.Errored
    assert (await storage.load(execution.uuid)).status == SagaStatus.Errored
    assert execution.context == SagaContext(order="deleted")


# -- user and headers ---------------------------------------------------------------------------------------------


async def test_user(manager, broker_publisher):
    user = uuid4()
    execution = await manager.run(ticket_and_payment_saga(), user=user, pause_on_disk=True, autocommit=False)
    assert execution.user == user
    assert broker_publisher.messages[-1].headers["user"] == str(user)


async def test_request_user_wins_with_warning(manager, broker_publisher):
    request_user, user = uuid4(), uuid4()
    token = REQUEST_USER_CONTEXT_VAR.set(request_user)
    try:
        with pytest.warns(RuntimeWarning):
            execution = await manager.run(ticket_and_payment_saga(), user=user, pause_on_disk=True, autocommit=False)
        assert execution.user == request_user
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            execution = await manager.run(ticket_and_payment_saga(), pause_on_disk=True, autocommit=False)
        assert execution.user == request_user
    finally:
        REQUEST_USER_CONTEXT_VAR.reset(token)


async def test_related_services_header_merge(manager, broker_publisher):
    headers = {"related_services": "delivery"}
    token = REQUEST_HEADERS_CONTEXT_VAR.set(headers)
    try:
        execution = await manager.run(ticket_and_payment_saga(), pause_on_disk=True, autocommit=False)
        assert headers["related_services"] == "delivery,order"
        response = response_to(broker_publisher.messages[-1], related_services="ticket")
        resumed = await manager.run(response=response, pause_on_disk=True, autocommit=False)
        assert headers["related_services"] == "delivery,order,ticket"
        assert resumed.uuid == execution.uuid and resumed.status == SagaStatus.Paused  # awaiting the second reply
    finally:
        REQUEST_HEADERS_CONTEXT_VAR.reset(token)


async def test_no_headers_context_is_fine(manager, broker_publisher):
    assert REQUEST_HEADERS_CONTEXT_VAR.get() is None
    execution = await manager.run(Saga().local_step(add_order).commit(), autocommit=False)
    assert execution.status == SagaStatus.Finished


async def test_execution_from_storage_is_resumable(manager, storage, broker_publisher):
    execution = await manager.run(ticket_and_payment_saga(), pause_on_disk=True, autocommit=False)
    loaded = await storage.load(execution.uuid)
    assert isinstance(loaded, SagaExecution)
    assert loaded == execution
