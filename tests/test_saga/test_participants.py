"""Idempotent participants against a real PostgreSQL, through minos' own ``BrokerDispatcher``.

Each test dispatches broker messages as a broker would deliver them (a fresh copy per delivery) and reads the
replies the dispatcher publishes, plus the participant's own table, written through ``participant_cursor()``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from functools import partial
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
import yaml
from minos.common import Config, ConnectionException, DependencyInjector, NotProvidedException
from minos.networks import (
    REQUEST_HEADERS_CONTEXT_VAR,
    BrokerDispatcher,
    BrokerMessageV1,
    BrokerMessageV1Payload,
    InMemoryBrokerPublisher,
    InMemoryRequest,
    Response,
    ResponseException,
    enroute,
)

import minos.saga
from minos.saga import (
    HangingRequestException,
    ParticipantBarrier,
    ParticipantConflictException,
    ParticipantOutcome,
    ParticipantRequestException,
    idempotent,
    participant_cursor,
    transactional_command,
)
from tests._postgres import query


@pytest.fixture(scope="module")
def database(postgres_database: dict[str, Any]) -> dict[str, Any]:
    """Connection settings (``database``, ``host``, ``port``, ``user``, ``password``) of this module's database."""
    return postgres_database


@pytest.fixture
async def barrier(database: dict[str, Any]) -> AsyncIterator[ParticipantBarrier]:
    """A barrier on a table of its own, so tests do not see each other's records."""
    barrier = ParticipantBarrier(**database, table_name=f"barrier_{uuid4().hex[:8]}")
    await barrier.setup()
    try:
        yield barrier
    finally:
        await barrier.destroy()


class Stock:
    """A participant holding stock in its own table; ``fail`` and ``refuse`` make the next action fail."""

    def __init__(self, database: dict[str, Any], barrier: ParticipantBarrier | None):
        self.database = database
        self.table = f"holds_{uuid4().hex[:8]}"
        query(database, f"CREATE TABLE {self.table} (saga TEXT, quantity INT)")
        self.calls: Counter[str] = Counter()
        self.fail: Exception | None = None
        self.entered = asyncio.Event()
        self.proceed: asyncio.Event | None = None
        self.reserve = idempotent("reserve", barrier=barrier)(self._reserve)
        self.release = idempotent("reserve", compensation=True, barrier=barrier)(self._release)

    async def _reserve(self, request: Any) -> Response:
        self.calls["reserve"] += 1
        quantity = (await request.content())["quantity"]
        await participant_cursor().execute(
            f"INSERT INTO {self.table} VALUES (%s, %s)", (request.headers["saga"], quantity)
        )
        self.entered.set()
        if self.proceed is not None:
            await self.proceed.wait()
        if self.fail is not None:
            failure, self.fail = self.fail, None
            raise failure
        REQUEST_HEADERS_CONTEXT_VAR.get()["stock"] = f"held {quantity}"
        return Response({"held": quantity})

    async def _release(self, request: Any) -> Response:
        self.calls["release"] += 1
        await participant_cursor().execute(f"DELETE FROM {self.table} WHERE saga = %s", (request.headers["saga"],))
        return Response({"released": True})

    def holds(self) -> list[tuple]:
        return query(self.database, f"SELECT saga, quantity FROM {self.table}")


@pytest.fixture
def stock(database: dict[str, Any], barrier: ParticipantBarrier) -> Stock:
    return Stock(database, barrier)


class Broker:
    """Delivers copies of messages through a real ``BrokerDispatcher`` and returns the reply it publishes."""

    def __init__(self, stock: Stock, middleware: Callable[..., Any] | None = None):
        self.actions = {"Reserve": stock.reserve, "Release": stock.release}
        if middleware is not None:
            self.actions = {topic: partial(middleware, inner=action) for topic, action in self.actions.items()}

    async def deliver(self, message: BrokerMessageV1) -> BrokerMessageV1:
        publisher = InMemoryBrokerPublisher()
        await BrokerDispatcher(self.actions, publisher).dispatch(redelivered(message))
        [reply] = publisher.messages
        return reply


@pytest.fixture
def broker(stock: Stock) -> Broker:
    return Broker(stock)


def request(topic: str, saga: UUID | str | None, content: Any = None) -> BrokerMessageV1:
    headers = {"transactions": str(saga)} if saga is None else {"saga": str(saga), "transactions": str(saga)}
    payload = BrokerMessageV1Payload(content=content, headers=headers)
    return BrokerMessageV1(topic, payload, reply_topic="orderReply")


def redelivered(message: BrokerMessageV1) -> BrokerMessageV1:
    """A copy of ``message``, as a broker hands each delivery to a consumer (handlers may change its headers)."""
    payload = BrokerMessageV1Payload(content=message.content, headers=dict(message.headers))
    return BrokerMessageV1(message.topic, payload, identifier=message.identifier, reply_topic=message.reply_topic)


def reply_of(message: BrokerMessageV1) -> tuple:
    return message.identifier, int(message.status), message.content, message.headers


async def test_duplicate_is_answered_with_the_recorded_reply(stock: Stock, broker: Broker):
    saga = uuid4()
    action = request("Reserve", saga, {"quantity": 2})

    first = await broker.deliver(action)
    second = await broker.deliver(action)

    assert (int(first.status), first.content, first.headers["stock"]) == (200, {"held": 2}, "held 2")
    assert reply_of(second) == reply_of(first)
    assert first.identifier == action.identifier
    assert stock.calls["reserve"] == 1
    assert stock.holds() == [(str(saga), 2)]


async def test_duplicates_through_transactional_command_get_the_same_reply(stock: Stock, injector):
    broker = Broker(stock, middleware=transactional_command)
    saga = uuid4()
    action = request("Reserve", saga, {"quantity": 2})

    first = await broker.deliver(action)
    second = await broker.deliver(action)

    assert first.headers["related_services"] == "order"  # the middleware ran around the handler
    assert "transactions" not in first.headers
    assert reply_of(second) == reply_of(first)
    assert stock.calls["reserve"] == 1


async def test_record_keeps_the_reply(stock: Stock, broker: Broker, barrier: ParticipantBarrier):
    saga = uuid4()
    action = request("Reserve", saga, {"quantity": 3})
    sent = await broker.deliver(action)

    record = await barrier.record(saga, "reserve")

    assert record is not None
    assert (record.request, record.outcome) == (action.identifier, ParticipantOutcome.DONE)
    assert (record.reply.status, record.reply.content, record.reply.headers) == (200, {"held": 3}, sent.headers)
    assert await barrier.record(saga, "reserve", compensation=True) is None


async def test_concurrent_duplicate_waits_and_gets_the_recorded_reply(
    stock: Stock, broker: Broker, database: dict[str, Any], barrier: ParticipantBarrier
):
    saga = uuid4()
    action = request("Reserve", saga, {"quantity": 1})

    replies = await second_delivered_while_first_runs(stock, broker, database, action, action)

    assert reply_of(replies[0]) == reply_of(replies[1])
    assert int(replies[0].status) == 200
    assert stock.calls["reserve"] == 1
    assert stock.holds() == [(str(saga), 1)]


async def test_concurrent_duplicate_runs_when_the_first_fails(
    stock: Stock, broker: Broker, database: dict[str, Any], barrier: ParticipantBarrier
):
    saga, stock.fail = uuid4(), RuntimeError("the disk is full")
    action = request("Reserve", saga, {"quantity": 1})

    failed, succeeded = await second_delivered_while_first_runs(stock, broker, database, action, action)

    assert int(failed.status) == 500
    assert (int(succeeded.status), succeeded.content) == (200, {"held": 1})
    assert stock.calls["reserve"] == 2
    assert stock.holds() == [(str(saga), 1)]


async def test_compensation_arriving_while_its_action_runs_waits_then_compensates(
    stock: Stock, broker: Broker, database: dict[str, Any]
):
    saga = uuid4()
    action, compensation = request("Reserve", saga, {"quantity": 1}), request("Release", saga)

    done, compensated = await second_delivered_while_first_runs(stock, broker, database, action, compensation)

    assert (int(done.status), int(compensated.status)) == (200, 200)
    assert compensated.content == {"released": True}
    assert stock.calls == Counter(reserve=1, release=1)
    assert stock.holds() == []


async def second_delivered_while_first_runs(
    stock: Stock, broker: Broker, database: dict[str, Any], first: BrokerMessageV1, second: BrokerMessageV1
) -> list[BrokerMessageV1]:
    """Deliver ``first``; once its handler runs, deliver ``second`` and wait until it blocks on the first one's lock;
    then let the handler finish. The two replies, in that order."""
    stock.proceed = asyncio.Event()
    first_reply = asyncio.create_task(broker.deliver(first))
    await asyncio.wait_for(stock.entered.wait(), 10)
    second_reply = asyncio.create_task(broker.deliver(second))
    await wait_for_lock_waiters(database, 1)
    stock.proceed.set()
    return list(await asyncio.gather(first_reply, second_reply))


async def wait_for_lock_waiters(database: dict[str, Any], count: int) -> None:
    """Until ``count`` sessions of ``database`` wait for a lock (a duplicate blocked on the first one's row)."""
    for _ in range(500):
        waiting = query(
            database,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'",
            database["database"],
        )[0][0]
        if waiting >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{count} session(s) never waited for a lock")


async def test_failure_rolls_back_the_work_and_the_record(stock: Stock, broker: Broker, barrier: ParticipantBarrier):
    saga, stock.fail = uuid4(), RuntimeError("the disk is full")
    action = request("Reserve", saga, {"quantity": 2})

    failed = await broker.deliver(action)

    assert (int(failed.status), failed.content) == (500, "RuntimeError('the disk is full')")
    assert stock.holds() == []
    assert await barrier.record(saga, "reserve") is None

    redelivered = await broker.deliver(action)

    assert (int(redelivered.status), redelivered.content) == (200, {"held": 2})
    assert stock.calls["reserve"] == 2
    assert stock.holds() == [(str(saga), 2)]


async def test_refusal_rolls_back_the_work_and_is_answered_again(
    stock: Stock, broker: Broker, barrier: ParticipantBarrier
):
    saga, stock.fail = uuid4(), ResponseException("only 1 left")
    action = request("Reserve", saga, {"quantity": 2})

    refused = await broker.deliver(action)
    again = await broker.deliver(action)

    assert (int(refused.status), refused.content) == (400, "ResponseException(message='only 1 left')")
    assert reply_of(again) == reply_of(refused)
    assert stock.calls["reserve"] == 1
    assert stock.holds() == []
    assert (await barrier.record(saga, "reserve")).outcome is ParticipantOutcome.REFUSED

    compensated = await broker.deliver(request("Release", saga))

    assert (int(compensated.status), compensated.content) == (200, None)
    assert stock.calls["release"] == 0
    assert (await barrier.record(saga, "reserve", compensation=True)).outcome is ParticipantOutcome.SKIPPED


async def test_compensation_after_the_action_runs_once(stock: Stock, broker: Broker):
    saga = uuid4()
    await broker.deliver(request("Reserve", saga, {"quantity": 2}))
    compensation = request("Release", saga)

    first = await broker.deliver(compensation)
    second = await broker.deliver(compensation)

    assert (int(first.status), first.content) == (200, {"released": True})
    assert reply_of(second) == reply_of(first)
    assert stock.calls == Counter(reserve=1, release=1)
    assert stock.holds() == []


async def test_compensation_before_its_action_is_null_and_the_action_hangs(
    stock: Stock, broker: Broker, barrier: ParticipantBarrier
):
    saga = uuid4()

    compensated = await broker.deliver(request("Release", saga))

    assert (int(compensated.status), compensated.content) == (200, None)
    assert stock.calls["release"] == 0
    assert (await barrier.record(saga, "reserve")).outcome is ParticipantOutcome.PREVENTED
    assert (await barrier.record(saga, "reserve", compensation=True)).outcome is ParticipantOutcome.SKIPPED

    action = request("Reserve", saga, {"quantity": 2})
    refused = await broker.deliver(action)
    again = await broker.deliver(action)

    assert int(refused.status) == 400
    assert refused.content.startswith(HangingRequestException.__name__)
    assert reply_of(again) == reply_of(refused)
    assert stock.calls["reserve"] == 0
    assert stock.holds() == []


async def test_another_message_for_a_handled_operation_is_refused(stock: Stock, broker: Broker):
    saga = uuid4()
    await broker.deliver(request("Reserve", saga, {"quantity": 2}))

    other = await broker.deliver(request("Reserve", saga, {"quantity": 5}))

    assert int(other.status) == 400
    assert other.content.startswith(ParticipantConflictException.__name__)
    assert stock.calls["reserve"] == 1
    assert stock.holds() == [(str(saga), 2)]


async def test_sagas_do_not_share_records(stock: Stock, broker: Broker):
    first, second = uuid4(), uuid4()

    await broker.deliver(request("Reserve", first, {"quantity": 1}))
    await broker.deliver(request("Reserve", second, {"quantity": 2}))

    assert stock.calls["reserve"] == 2
    assert sorted(stock.holds()) == sorted([(str(first), 1), (str(second), 2)])


@pytest.mark.parametrize("saga", [None, "", "not-a-uuid"])
async def test_a_request_without_a_valid_saga_header_is_refused(stock: Stock, broker: Broker, saga: str | None):
    reply = await broker.deliver(request("Reserve", saga, {"quantity": 1}))

    assert int(reply.status) == 400
    assert reply.content.startswith(ParticipantRequestException.__name__)
    assert "saga" in reply.content
    assert stock.calls["reserve"] == 0


async def test_a_request_that_is_not_a_broker_request_is_refused(stock: Stock):
    with pytest.raises(ParticipantRequestException, match="broker requests only"):
        await stock.reserve(InMemoryRequest({"quantity": 1}))


def test_the_operation_must_be_named():
    with pytest.raises(ValueError, match="non-empty string"):
        idempotent("")


def test_idempotent_must_be_under_enroute():
    async def handler(request: Any) -> None:
        pass

    with pytest.raises(TypeError, match="under the @enroute"):
        idempotent("reserve")(enroute.broker.command("Reserve")(handler))


def test_participant_cursor_outside_a_handler():
    with pytest.raises(RuntimeError, match="@idempotent"):
        participant_cursor()


async def test_concurrent_setup_creates_the_table_once(database: dict[str, Any]):
    table = f"barrier_{uuid4().hex[:8]}"
    barriers = [ParticipantBarrier(**database, table_name=table) for _ in range(6)]
    try:
        await asyncio.gather(*(barrier.setup() for barrier in barriers))
    finally:
        await asyncio.gather(*(barrier.destroy() for barrier in barriers))
    assert query(database, "SELECT count(*) FROM information_schema.tables WHERE table_name = %s", table) == [(1,)]


def test_the_table_name_must_be_an_identifier():
    with pytest.raises(ValueError, match="plain identifier"):
        ParticipantBarrier("db", table_name="barrier; DROP TABLE x")


async def test_an_unreachable_server_raises_connection_exception():
    barrier = ParticipantBarrier("db", host="127.0.0.1", port=1, connect_timeout=1)
    with pytest.raises(ConnectionException):
        await barrier.setup()


def write_config(tmp_path: Path, databases: dict[str, Any]) -> Config:
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump({"version": 2, "name": "stock", "databases": databases}))
    return Config(path)


@pytest.mark.parametrize("entry", ["default", "participant"])
def test_from_config_reads_the_database_entry(tmp_path: Path, entry: str):
    databases = {entry: {"database": "stock_db", "host": "db.local", "port": 6543, "user": "u", "password": "p"}}
    if entry == "participant":
        databases["default"] = {"database": "other_db"}

    barrier = ParticipantBarrier.from_config(write_config(tmp_path, databases))

    assert (barrier.database, barrier.host, barrier.port, barrier.user) == ("stock_db", "db.local", 6543, "u")


def test_from_config_without_a_database_entry(tmp_path: Path):
    with pytest.raises(ValueError, match="'participant' or 'default' database"):
        ParticipantBarrier.from_config(write_config(tmp_path, {"saga": {"database": "x"}}))


async def test_the_injected_barrier_is_used(tmp_path: Path, database: dict[str, Any]):
    config = write_config(tmp_path, {"default": database})
    injector = DependencyInjector(config, [ParticipantBarrier])
    await injector.wire_and_setup_injections(modules=[minos.saga])
    try:
        stock = Stock(database, barrier=None)
        reply = await Broker(stock).deliver(request("Reserve", uuid4(), {"quantity": 1}))
    finally:
        await injector.unwire_and_destroy_injections()
    assert (int(reply.status), reply.content) == (200, {"held": 1})


async def test_without_a_barrier_the_handler_says_what_is_missing(database: dict[str, Any]):
    stock = Stock(database, barrier=None)
    with pytest.raises(NotProvidedException, match="ParticipantBarrier"):
        await stock.reserve(InMemoryRequest({"quantity": 1}))
