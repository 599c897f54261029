"""Reply timeouts, retry policies, deadlines and the commit's reservation timeout, enforced by
``SagaManager.recover()`` against the real PostgreSQL repository; time is a fake clock the tests move."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import uuid4

import pytest
from minos.common import Config

from minos.saga import (
    InMemorySagaExecutionRepository,
    PostgreSqlSagaExecutionRepository,
    RetryPolicy,
    Saga,
    SagaContext,
    SagaExecution,
    SagaExecutionNotFoundException,
    SagaManager,
    SagaResponse,
    SagaStatus,
    SagaStepTimeoutException,
)
from minos.saga.clock import SagaClock
from tests.test_saga.utils import (
    reply_message,
    ticket_steps,
)


class FakeClock(SagaClock):
    """A clock that stands still until a test moves it; its sleepers wake when it passes their time."""

    def __init__(self) -> None:
        self.current = datetime(2030, 1, 1, tzinfo=timezone.utc)
        self._sleepers: list[tuple[datetime, asyncio.Future]] = []
        self._watchers: list[asyncio.Future] = []

    def now(self) -> datetime:
        return self.current

    async def sleep(self, seconds: float) -> None:
        woken = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.current + timedelta(seconds=seconds), woken))
        for watcher in self._watchers:
            if not watcher.done():
                watcher.set_result(None)
        self._wake()
        await woken

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)
        self._wake()

    async def someone_sleeps(self) -> None:
        """Return once a sleeper waits (a safety bound of 10 s of real time, not a timing of the test)."""
        if not any(not woken.done() for _, woken in self._sleepers):
            watcher = asyncio.get_running_loop().create_future()
            self._watchers.append(watcher)
            await asyncio.wait_for(watcher, 10)

    def _wake(self) -> None:
        for target, woken in list(self._sleepers):
            if woken.done() or target <= self.current:
                self._sleepers.remove((target, woken))
                if not woken.done():
                    woken.set_result(None)


def ticket_saga(policy: RetryPolicy | None = None, timeout: float | None = 10, deadline: float | None = None) -> Saga:
    step = ticket_steps(Saga(deadline=deadline))
    if timeout is not None:
        step.timeout(timeout)
    if policy is not None:
        step.retry(policy)
    return step.commit()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def table() -> str:
    return f"saga_{uuid4().hex[:8]}"


async def new_manager(broker_pool, postgres_database: dict[str, Any], table: str, clock: SagaClock) -> SagaManager:
    storage = PostgreSqlSagaExecutionRepository(table_name=table, **postgres_database)
    manager = SagaManager(storage=storage, broker_pool=broker_pool, clock=clock)
    await manager.setup()
    return manager


@pytest.fixture
async def manager(injector, broker_pool, postgres_database, table, clock) -> AsyncIterator[SagaManager]:
    manager = await new_manager(broker_pool, postgres_database, table, clock)
    yield manager
    await manager.destroy()


async def start(manager: SagaManager, saga: Saga) -> SagaExecution:
    execution = await manager.run(saga, SagaContext(), pause_on_disk=True, autocommit=False)
    assert execution.status == SagaStatus.Paused
    return execution


async def reply(manager: SagaManager, request, status: int = 200) -> SagaExecution:
    response = SagaResponse.from_message(reply_message(request, "ticket-1", status))
    return await manager.run(response=response, pause_on_disk=True, autocommit=False, raise_on_error=False)


REJECT = "_RejectOrderTransaction"  # the transaction reject that follows the compensations


def topics(broker_publisher) -> list[str]:
    return [message.topic for message in broker_publisher.messages]


async def test_a_participant_that_never_answers_is_retried_with_backoff_then_compensated(
    manager, broker_publisher, clock
):
    policy = RetryPolicy(maximum_attempts=3, initial_interval=1, backoff_coefficient=2)
    execution = await start(manager, ticket_saga(policy, timeout=10))
    request = broker_publisher.messages[-1]

    clock.advance(10.5)  # expired, but the first backoff (1 s) has not passed
    assert await manager.recover() == 0
    clock.advance(0.5)
    assert await manager.recover() == 1
    clock.advance(11.9)  # the second attempt expires at +10, then waits 2 s
    assert await manager.recover() == 0
    clock.advance(0.1)
    assert await manager.recover() == 1
    resent = broker_publisher.messages[1:]
    assert [(m.topic, m.identifier, m.content) for m in resent] == [
        ("CreateTicket", request.identifier, request.content)
    ] * 2
    stored = await manager.storage.load(execution.uuid)
    assert (stored.status, [pending.attempts for pending in stored.outbox]) == (SagaStatus.Paused, [3])

    clock.advance(9.9)
    assert await manager.recover() == 0
    clock.advance(0.1)  # the last attempt expired: the step fails and the saga compensates
    assert await manager.recover() == 0
    stored = await manager.storage.load(execution.uuid)
    assert (stored.status, stored.already_rollback) == (SagaStatus.Errored, True)
    assert stored.context["order"] == "deleted"
    assert topics(broker_publisher)[3:] == [
        "DeleteTicket",
        REJECT,
    ]  # the in-flight step is compensated: it may have acted

    late = await reply(manager, request)  # the participant wakes up: nothing comes back to life
    assert late.status == SagaStatus.Errored and "ticket" not in late.context
    acknowledged = await reply(manager, broker_publisher.messages[3])  # the compensation's reply
    assert acknowledged.outbox == []
    clock.advance(3600)
    assert await manager.recover() == 0
    assert topics(broker_publisher)[3:] == ["DeleteTicket", REJECT]


async def test_a_timeout_without_a_policy_sends_once(manager, broker_publisher, clock):
    execution = await start(manager, ticket_saga(timeout=5))
    clock.advance(5)
    assert await manager.recover() == 0
    assert topics(broker_publisher) == ["CreateTicket", "DeleteTicket", REJECT]
    assert (await manager.storage.load(execution.uuid)).status == SagaStatus.Errored


async def test_an_answer_in_time_stops_the_clock(manager, broker_publisher, clock):
    execution = await start(manager, ticket_saga(RetryPolicy(), timeout=5))
    clock.advance(4)
    finished = await reply(manager, broker_publisher.messages[-1])
    assert finished.status == SagaStatus.Finished
    clock.advance(3600)
    assert await manager.recover() == 0
    assert topics(broker_publisher) == ["CreateTicket"]
    with pytest.raises(SagaExecutionNotFoundException):  # finished executions are deleted
        await manager.storage.load(execution.uuid)


async def test_a_participant_that_fails_twice_then_succeeds_finishes(manager, broker_publisher, clock):
    policy = RetryPolicy(maximum_attempts=3, initial_interval=2, retryable_statuses=(500,))
    await start(manager, ticket_saga(policy, timeout=None))
    request = broker_publisher.messages[-1]
    for attempt in (1, 2):
        waiting = await reply(manager, request, status=500)
        assert waiting.status == SagaStatus.Paused  # not applied: the request will be sent again
        clock.advance(2 * attempt - 0.5)
        assert await manager.recover() == 0  # backoff: 2 s, then 4 s
        clock.advance(0.5)
        assert await manager.recover() == 1
    assert [m.identifier for m in broker_publisher.messages] == [request.identifier] * 3

    finished = await reply(manager, broker_publisher.messages[-1])
    assert finished.status == SagaStatus.Finished
    assert finished.context["ticket"] == "ticket-1"
    assert topics(broker_publisher) == ["CreateTicket"] * 3


async def test_a_retryable_status_after_the_last_attempt_fails_the_step(manager, broker_publisher, clock):
    policy = RetryPolicy(maximum_attempts=2, initial_interval=1, retryable_statuses=(500,))
    execution = await start(manager, ticket_saga(policy, timeout=None))
    await reply(manager, broker_publisher.messages[-1], status=500)
    clock.advance(1)
    assert await manager.recover() == 1
    failed = await reply(manager, broker_publisher.messages[-1], status=500)
    assert failed.status == SagaStatus.Errored
    assert (await manager.storage.load(execution.uuid)).context["order"] == "deleted"


async def test_a_saga_deadline_fails_the_waiting_step(manager, broker_publisher, clock):
    policy = RetryPolicy(maximum_attempts=10, initial_interval=1)
    execution = await start(manager, ticket_saga(policy, timeout=20, deadline=30))
    clock.advance(21)
    assert await manager.recover() == 1  # re-sent: the deadline has not passed
    clock.advance(9)
    assert await manager.recover() == 0
    stored = await manager.storage.load(execution.uuid)
    assert (stored.status, stored.context["order"]) == (SagaStatus.Errored, "deleted")
    assert topics(broker_publisher) == ["CreateTicket", "CreateTicket", "DeleteTicket", REJECT]


async def test_replicas_recovering_at_once_handle_each_expiry_once(
    manager, injector, broker_pool, postgres_database, table, broker_publisher, clock
):
    policy = RetryPolicy(maximum_attempts=2, initial_interval=1)
    executions = [await start(manager, ticket_saga(policy, timeout=10)) for _ in range(5)]
    replicas = [await new_manager(broker_pool, postgres_database, table, clock) for _ in range(4)]
    try:
        clock.advance(11)
        assert sum(await asyncio.gather(*(replica.recover() for replica in [manager, *replicas]))) == 5
        assert topics(broker_publisher) == ["CreateTicket"] * 10
        clock.advance(10)
        assert sum(await asyncio.gather(*(replica.recover() for replica in [manager, *replicas]))) == 0
    finally:
        for replica in replicas:
            await replica.destroy()
    assert topics(broker_publisher)[10:] == ["DeleteTicket", REJECT] * 5
    for execution in executions:
        stored = await manager.storage.load(execution.uuid)
        awaited = [(pending.message.topic, pending.attempts) for pending in stored.outbox]
        assert (stored.status, awaited) == (SagaStatus.Errored, [("DeleteTicket", 1)])  # its reply is awaited


async def test_an_in_memory_wait_re_sends_then_compensates(manager, broker_publisher, clock):
    policy = RetryPolicy(maximum_attempts=2, initial_interval=1)
    saga = ticket_saga(policy, timeout=10)
    run = asyncio.ensure_future(manager.run(saga, SagaContext(), autocommit=False, raise_on_error=False))
    await clock.someone_sleeps()
    clock.advance(10.5)
    await clock.someone_sleeps()  # still the first wait (the backoff ends at 11 s)
    assert topics(broker_publisher) == ["CreateTicket"]
    clock.advance(0.5)
    await clock.someone_sleeps()  # the second attempt's wait
    first, second = broker_publisher.messages
    assert (second.topic, second.identifier) == ("CreateTicket", first.identifier)
    clock.advance(10)
    execution = await asyncio.wait_for(run, 10)
    assert (execution.status, execution.context["order"]) == (SagaStatus.Errored, "deleted")
    assert topics(broker_publisher) == ["CreateTicket", "CreateTicket", "DeleteTicket", REJECT]


async def test_the_run_timeout_fails_the_waiting_step(manager, broker_publisher, clock):
    run = asyncio.ensure_future(manager.run(ticket_saga(timeout=None), SagaContext(), autocommit=False, timeout=5))
    await clock.someone_sleeps()
    clock.advance(5)
    with pytest.raises(SagaStepTimeoutException):
        await asyncio.wait_for(run, 10)
    assert topics(broker_publisher) == ["CreateTicket", "DeleteTicket", REJECT]


async def test_a_stored_run_timeout_is_enforced_by_recovery(manager, broker_publisher, clock):
    execution = await manager.run(ticket_saga(timeout=None), SagaContext(), pause_on_disk=True, timeout=5)
    clock.advance(5)
    assert await manager.recover() == 0
    assert (await manager.storage.load(execution.uuid)).status == SagaStatus.Errored
    with pytest.raises(ValueError):
        await manager.run(response=SagaResponse.from_message(reply_message(broker_publisher.messages[0])), timeout=5)


async def test_a_compensation_that_fails_three_times_then_succeeds_is_acknowledged(manager, broker_publisher, clock):
    policy = RetryPolicy(maximum_attempts=4, initial_interval=1, backoff_coefficient=2)
    execution = await start(manager, ticket_saga(policy, timeout=10))
    failed = await manager.compensate(execution.uuid)  # the in-flight step is compensated
    assert (failed.status, topics(broker_publisher)) == (SagaStatus.Errored, ["CreateTicket", "DeleteTicket", REJECT])
    compensation = broker_publisher.messages[1]

    clock.advance(10.5)  # no reply to the first attempt: its wait expired, the backoff (1 s) has not passed
    assert await manager.recover() == 0
    clock.advance(0.5)
    assert await manager.recover() == 1
    await reply(manager, broker_publisher.messages[-1], status=500)  # the second attempt fails on the participant
    clock.advance(1.9)
    assert await manager.recover() == 0
    clock.advance(0.1)
    assert await manager.recover() == 1
    await reply(manager, broker_publisher.messages[-1], status=400)  # the third fails too
    clock.advance(4)
    assert await manager.recover() == 1
    resent = broker_publisher.messages[3:]
    assert [(m.topic, m.identifier, m.content) for m in resent] == [
        ("DeleteTicket", compensation.identifier, compensation.content)
    ] * 3

    done = await reply(manager, resent[-1])
    stored = await manager.storage.load(execution.uuid)
    assert (done.outbox, stored.outbox, stored.compensations_stalled) == ([], [], False)
    assert (stored.status, stored.already_rollback, stored.context["order"]) == (SagaStatus.Errored, True, "deleted")
    clock.advance(3600)
    assert await manager.recover() == 0
    assert len(broker_publisher.messages) == 6


async def test_a_compensation_that_never_succeeds_stalls_until_an_operator_retries(manager, broker_publisher, clock):
    policy = RetryPolicy(maximum_attempts=2, initial_interval=1)
    execution = await start(manager, ticket_saga(policy, timeout=10))
    clock.advance(11)
    assert await manager.recover() == 1  # the request's second attempt
    clock.advance(10)
    assert await manager.recover() == 0  # no reply: the step fails and compensates
    compensation = broker_publisher.messages[2]
    assert topics(broker_publisher) == ["CreateTicket", "CreateTicket", "DeleteTicket", REJECT]

    await reply(manager, compensation, status=500)
    clock.advance(1)
    assert await manager.recover() == 1
    await reply(manager, broker_publisher.messages[-1], status=500)  # the last attempt fails too
    clock.advance(3600)
    assert await manager.recover() == 0
    stored = await manager.storage.load(execution.uuid)
    assert (stored.status, stored.compensations_stalled) == (SagaStatus.Errored, True)
    assert stored.raw["orchestrator"]["compensations_stalled"] is True
    listed = await manager.storage.list(status=SagaStatus.Errored)
    assert [(summary.uuid, summary.compensations_stalled) for summary in listed] == [(execution.uuid, True)]
    clock.advance(3600)
    assert await manager.recover() == 0  # stalled: nothing more is sent without an operator
    assert len(broker_publisher.messages) == 5

    retried = await manager.retry(execution.uuid, "the ticket service is fixed")
    assert retried.compensations_stalled is False
    again = broker_publisher.messages[-1]
    assert (again.topic, again.identifier, again.content) == (
        "DeleteTicket",
        compensation.identifier,
        compensation.content,
    )
    await reply(manager, again)
    stored = await manager.storage.load(execution.uuid)
    assert (stored.outbox, stored.compensations_stalled) == ([], False)
    assert [decision.action for decision in stored.decisions] == ["retry"]
    listed = await manager.storage.list(status=SagaStatus.Errored)
    assert [(summary.uuid, summary.compensations_stalled) for summary in listed] == [(execution.uuid, False)]


# -- the commit's reservations --------------------------------------------------------------------------------------


async def committing(manager: SagaManager, broker_publisher) -> tuple[SagaExecution, list]:
    """A ticket saga whose steps finished (the ticket service took part): its commit waits for the reservations of
    this service and of the ticket service, which are returned."""
    execution = await manager.run(ticket_saga(timeout=None), SagaContext(), pause_on_disk=True)
    ticket = reply_message(broker_publisher.messages[-1], "ticket-1", related_services="ticket")
    waiting = await manager.run(response=SagaResponse.from_message(ticket), pause_on_disk=True)
    assert (waiting.uuid, waiting.status) == (execution.uuid, SagaStatus.Paused)
    reservations = [message for message in broker_publisher.messages if message.topic.startswith("_Reserve")]
    assert sorted(message.topic for message in reservations) == [
        "_ReserveOrderTransaction",
        "_ReserveTicketTransaction",
    ]
    return waiting, reservations


async def answer(manager: SagaManager, reservation, status: int = 200) -> SagaExecution:
    response = SagaResponse.from_message(reply_message(reservation, None, status))
    return await manager.run(response=response, pause_on_disk=True, raise_on_error=False)


async def test_reservations_not_all_answered_in_time_are_rejected_and_the_saga_compensated(
    manager, broker_publisher, clock
):
    execution, (first, second) = await committing(manager, broker_publisher)
    assert (await answer(manager, first)).status == SagaStatus.Paused  # the other one never answers
    sent = len(broker_publisher.messages)

    clock.advance(59.9)  # the default wait, 60 s, as 0.7.0's commit waited
    assert await manager.recover() == 0
    assert (await manager.storage.load(execution.uuid)).status == SagaStatus.Paused
    clock.advance(0.1)
    assert await manager.recover() == 0

    stored = await manager.storage.load(execution.uuid)
    assert (stored.status, stored.already_rollback, stored.reservations) == (SagaStatus.Errored, True, None)
    assert stored.context["order"] == "deleted"
    assert sorted(topics(broker_publisher)[sent:]) == [
        "DeleteTicket",
        "_RejectOrderTransaction",
        "_RejectTicketTransaction",
    ]  # both rejected: the participant that reserved discards it too
    late = await answer(manager, second)  # the silent participant wakes up: nothing is committed
    assert late.status == SagaStatus.Errored
    clock.advance(3600)
    assert await manager.recover() == 0
    assert not any("Commit" in topic for topic in topics(broker_publisher))


async def test_reservations_answered_in_time_commit(manager, broker_publisher, clock):
    execution, reservations = await committing(manager, broker_publisher)
    for reservation in reservations:
        clock.advance(59)  # each wait is measured from when its reservation was sent
        await answer(manager, reservation)

    with pytest.raises(SagaExecutionNotFoundException):  # committed, finished and deleted
        await manager.storage.load(execution.uuid)
    assert sorted(topic for topic in topics(broker_publisher) if "Commit" in topic) == [
        "_CommitOrderTransaction",
        "_CommitTicketTransaction",
    ]
    clock.advance(3600)
    assert await manager.recover() == 0


async def test_a_manager_without_a_reservation_timeout_waits_for_ever(
    injector, broker_pool, postgres_database, table, clock, broker_publisher
):
    storage = PostgreSqlSagaExecutionRepository(table_name=table, **postgres_database)
    manager = SagaManager(storage=storage, broker_pool=broker_pool, clock=clock, reservation_timeout=None)
    await manager.setup()
    try:
        execution, _ = await committing(manager, broker_publisher)
        clock.advance(365 * 24 * 3600)
        assert await manager.recover() == 0
        stored = await manager.storage.load(execution.uuid)
        assert (stored.status, stored.wake_at) == (SagaStatus.Paused, None)
    finally:
        await manager.destroy()


@pytest.mark.parametrize(("given", "error"), [(0, ValueError), (-1, ValueError), ("60", TypeError)])
def test_a_reservation_timeout_must_be_positive_seconds(injector, broker_pool, given, error):
    with pytest.raises(error, match="reservation_timeout"):
        SagaManager(storage=InMemorySagaExecutionRepository(), broker_pool=broker_pool, reservation_timeout=given)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [("", 60.0), ("    reservation_timeout: 15\n", 15.0), ("    reservation_timeout: null\n", None)],
)
def test_the_reservation_timeout_from_config(tmp_path, broker_pool, entry, expected):
    path = tmp_path / "config.yml"
    path.write_text(
        "version: 2\nname: order\ndatabases:\n  default:\n    client: minos.common.testing.MockedDatabaseClient\n"
        f"  saga:\n    repository: minos.saga.InMemorySagaExecutionRepository\n{entry}"
    )

    assert SagaManager.from_config(Config(path), broker_pool=broker_pool).reservation_timeout == expected
