"""SagaService: the reply route and the resumption of executions with replies."""

from __future__ import annotations

from unittest.mock import patch

import pytest
import yaml
from minos.common import Config
from minos.networks import BrokerCommandEnrouteDecorator, BrokerRequest, PeriodicEventEnrouteDecorator

from minos.saga import (
    InMemorySagaExecutionRepository,
    Saga,
    SagaExecutionNotFoundException,
    SagaManager,
    SagaResponseStatusException,
    SagaService,
    SagaStatus,
)
from minos.saga.services import RECOVERY_CRONTAB
from tests.test_saga.utils import (
    handle_ticket,
    mutate_then_fail,
    reply_message,
    send_create_ticket,
    send_delete_ticket,
)


@pytest.fixture
async def manager(injector, broker_pool) -> SagaManager:
    manager = SagaManager(storage=InMemorySagaExecutionRepository(), broker_pool=broker_pool)
    await manager.setup()
    yield manager
    await manager.destroy()


def definition() -> Saga:
    return Saga().remote_step(send_create_ticket).on_success(handle_ticket).local_step(mutate_then_fail).commit()


def test_get_enroute(config):
    routes = SagaService.__get_enroute__(config)
    assert routes["__reply__"] == {BrokerCommandEnrouteDecorator("orderReply")}
    assert routes["__recover__"] == {PeriodicEventEnrouteDecorator(RECOVERY_CRONTAB)}


@pytest.mark.parametrize(("recovery", "expected"), [("*/10 * * * *", "*/10 * * * *"), (None, None)])
def test_get_enroute_reads_the_recovery_crontab(tmp_path, recovery, expected):
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump({"version": 2, "name": "order", "saga": {"recovery": recovery}}))
    routes = SagaService.__get_enroute__(Config(path))
    assert routes.get("__recover__") == (None if expected is None else {PeriodicEventEnrouteDecorator(expected)})


async def test_recover_publishes_what_was_left_unsent(manager, broker_publisher):
    with patch.object(broker_publisher, "send", side_effect=ConnectionError("broker down")):
        await manager.run(definition(), pause_on_disk=True, autocommit=False)
    assert await SagaService(saga_manager=manager).__recover__(None) == 1
    assert [message.topic for message in broker_publisher.messages] == ["CreateTicket"]


def test_manager_injected(injector, manager):
    assert SagaService(saga_manager=manager).saga_manager is manager


async def test_reply_resumes_on_disk_without_raising(manager, broker_publisher):
    execution = await manager.run(definition(), pause_on_disk=True, autocommit=False)
    service = SagaService(saga_manager=manager)
    request = BrokerRequest(reply_message(broker_publisher.messages[-1], "t1"))
    assert await service.__reply__(request) is None  # the failing local step is stored, not raised
    stored = await manager.storage.load(execution.uuid)
    assert stored.status == SagaStatus.Errored
    assert len(stored.executed_steps) == 1


async def test_reply_with_bad_status_raises_and_leaves_storage(manager, broker_publisher):
    execution = await manager.run(definition(), pause_on_disk=True, autocommit=False)
    message = reply_message(broker_publisher.messages[-1], "x")
    message.payload.status = 600
    with pytest.raises(SagaResponseStatusException):
        await SagaService(saga_manager=manager).__reply__(BrokerRequest(message))
    assert (await manager.storage.load(execution.uuid)).status == SagaStatus.Paused


async def test_duplicated_reply_of_a_finished_execution_is_ignored(manager, broker_publisher):
    execution = await manager.run(
        Saga().remote_step(send_create_ticket).on_success(handle_ticket).commit(), pause_on_disk=True, autocommit=False
    )
    request = BrokerRequest(
        reply_message(next(m for m in broker_publisher.messages if m.topic == "CreateTicket"), "t1")
    )
    service = SagaService(saga_manager=manager)
    await service.__reply__(request)
    for reservation in [m for m in broker_publisher.messages if m.topic.startswith("_Reserve")]:
        await service.__reply__(BrokerRequest(reply_message(reservation)))
    with pytest.raises(SagaExecutionNotFoundException):
        await manager.storage.load(execution.uuid)  # finished, hence deleted

    assert await service.__reply__(request) is None


async def test_commit_pauses_instead_of_holding_the_handler(manager, broker_publisher):
    """Minos runs a fixed number of broker handler tasks; a reply handler waiting for the reservation answers
    would hold one while the answers (one from this service itself) need free ones."""
    definition = Saga().remote_step(send_create_ticket).on_success(handle_ticket).commit()
    execution = await manager.run(definition, pause_on_disk=True)
    service = SagaService(saga_manager=manager)
    ticket = next(m for m in broker_publisher.messages if m.topic == "CreateTicket")
    assert await service.__reply__(BrokerRequest(reply_message(ticket, "t1", related_services="ticket"))) is None

    stored = await manager.storage.load(execution.uuid)
    assert stored.status == SagaStatus.Paused
    reservations = [m for m in broker_publisher.messages if m.topic.startswith("_Reserve")]
    assert sorted(m.topic for m in reservations) == ["_ReserveOrderTransaction", "_ReserveTicketTransaction"]
    assert {m.reply_topic for m in reservations} == {"orderReply"}
    assert not any(m.topic.startswith("_Commit") for m in broker_publisher.messages)

    for reservation in reservations:
        await service.__reply__(BrokerRequest(reply_message(reservation)))
    with pytest.raises(SagaExecutionNotFoundException):
        await manager.storage.load(execution.uuid)
    commits = sorted(m.topic for m in broker_publisher.messages if m.topic.startswith("_Commit"))
    assert commits == ["_CommitOrderTransaction", "_CommitTicketTransaction"]


async def test_refused_reservation_compensates_and_rejects(manager, broker_publisher):
    definition = Saga().remote_step(send_create_ticket).on_success(handle_ticket).on_failure(send_delete_ticket)
    execution = await manager.run(definition.commit(), pause_on_disk=True)
    service = SagaService(saga_manager=manager)
    ticket = next(m for m in broker_publisher.messages if m.topic == "CreateTicket")
    await service.__reply__(BrokerRequest(reply_message(ticket, "t1", related_services="ticket")))
    first, second = [m for m in broker_publisher.messages if m.topic.startswith("_Reserve")]

    await service.__reply__(BrokerRequest(reply_message(first, "no", 400)))
    assert (await manager.storage.load(execution.uuid)).status == SagaStatus.Paused  # the other answer is due
    await service.__reply__(BrokerRequest(reply_message(second)))

    stored = await manager.storage.load(execution.uuid)
    assert stored.status == SagaStatus.Errored
    published = [m.topic for m in broker_publisher.messages]
    assert "DeleteTicket" in published
    assert sorted(t for t in published if t.startswith("_Reject")) == [
        "_RejectOrderTransaction",
        "_RejectTicketTransaction",
    ]
    assert not any(t.startswith("_Commit") for t in published)


async def test_duplicated_reservation_answer_is_ignored(manager, broker_publisher):
    execution = await manager.run(
        Saga().remote_step(send_create_ticket).on_success(handle_ticket).commit(), pause_on_disk=True
    )
    service = SagaService(saga_manager=manager)
    ticket = next(m for m in broker_publisher.messages if m.topic == "CreateTicket")
    await service.__reply__(BrokerRequest(reply_message(ticket, "t1", related_services="ticket")))
    first, second = [m for m in broker_publisher.messages if m.topic.startswith("_Reserve")]

    await service.__reply__(BrokerRequest(reply_message(first)))
    stored = await manager.storage.load(execution.uuid)
    await service.__reply__(BrokerRequest(reply_message(first)))
    assert await manager.storage.load(execution.uuid) == stored  # still waiting for the second answer
    await service.__reply__(BrokerRequest(reply_message(second)))
    with pytest.raises(SagaExecutionNotFoundException):
        await manager.storage.load(execution.uuid)
