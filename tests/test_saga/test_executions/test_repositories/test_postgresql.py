"""PostgreSqlSagaExecutionRepository against a real server (the session's ``postgres`` fixture provides one).

The run creates its own database on that server and drops it at the end.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import suppress
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
import yaml
from minos.common import Config, ConnectionException
from minos.networks import BrokerMessage, BrokerMessageV1, BrokerMessageV1Payload

from minos.saga import (
    DatabaseSagaExecutionRepository,
    OperatorDecision,
    PostgreSqlSagaExecutionRepository,
    Saga,
    SagaContext,
    SagaExecution,
    SagaExecutionNotFoundException,
    SagaExecutionNotStorableException,
    SagaManager,
    SagaRequest,
    SagaResponse,
    SagaStatus,
)
from minos.saga.testing import (
    SagaExecutionListerContract,
    SagaExecutionRepositoryContract,
    SagaExecutionRepositoryTestCase,
)
from tests._postgres import query
from tests.helpers import CONFIG_FILE_PATH, load_compat

PG: dict[str, Any] = {}  # the session's server (host, port, user, password), set by the ``pg_database`` fixture
DATABASE: str | None = None  # this module's database, set by the ``pg_database`` fixture


@pytest.fixture(scope="module", autouse=True)
def pg_database(postgres_database: dict[str, Any]) -> Iterator[str]:
    """Publishes the module's database to the unittest-style contract cases, which cannot take fixtures."""
    global DATABASE
    settings = dict(postgres_database)
    DATABASE = settings.pop("database")
    PG.update(settings)
    try:
        yield DATABASE
    finally:
        DATABASE = None
        PG.clear()


def build_repository(database: str | None = None, **kwargs) -> PostgreSqlSagaExecutionRepository:
    assert database or DATABASE
    return PostgreSqlSagaExecutionRepository(database or DATABASE, **(PG | kwargs))


@pytest.fixture
async def repository() -> AsyncIterator[PostgreSqlSagaExecutionRepository]:
    """A repository on its own table, so tests do not see each other's rows."""
    repository = build_repository(table_name=f"saga_execution_{uuid4().hex[:8]}")
    await repository.setup()
    try:
        yield repository
    finally:
        await repository.destroy()


class TestPostgreSqlSagaExecutionRepository(SagaExecutionRepositoryTestCase):
    __test__ = True
    CONFIG_FILE_PATH = CONFIG_FILE_PATH

    def build_saga_execution_repository(self) -> PostgreSqlSagaExecutionRepository:
        return build_repository()


class _OwnTable:
    """Each test on a table of its own; repositories built within one test share it (two replicas)."""

    SHARED_STORAGE = True

    def setUp(self) -> None:
        super().setUp()  # type: ignore[misc]
        self.table_name = f"saga_execution_{uuid4().hex[:8]}"

    def build_repository(self) -> PostgreSqlSagaExecutionRepository:
        return build_repository(table_name=self.table_name)


class TestPostgreSqlContract(_OwnTable, SagaExecutionRepositoryContract):
    __test__ = True


class TestPostgreSqlListerContract(_OwnTable, SagaExecutionListerContract):
    __test__ = True


# --- documents, schema, listing, faults ---------------------------------------------------------------------------


async def test_compat_documents_round_trip(repository, injector):
    for document in load_compat("executions-0.7.0.json"):
        execution = SagaExecution.from_raw(document["raw"])
        await repository.store(execution)
        assert await repository.load(execution.uuid) == execution, document["name"]
        assert await repository.load(str(execution.uuid)) == execution, document["name"]


async def test_store_increments_version_and_keeps_created_at(repository, injector):
    execution = SagaExecution.from_raw(load_compat("executions-0.7.0.json")[0]["raw"])
    for _ in range(3):
        await repository.store(execution)
    rows = query(
        {"database": DATABASE, **PG},
        f"SELECT version, created_at < updated_at, status FROM {repository.table_name} WHERE uuid = %s",
        str(execution.uuid),
    )
    assert rows == [(3, True, execution.status.raw)]


async def test_failed_store_keeps_previous_row(repository, injector):
    execution = SagaExecution.from_raw(load_compat("executions-0.7.0.json")[0]["raw"])
    await repository.store(execution)
    before = execution.raw
    execution.status = SagaStatus.Finished
    # jsonb cannot hold NUL: refused before the upsert
    execution.decisions.append(OperatorDecision("abandon", datetime.now(timezone.utc), "\x00"))
    with pytest.raises(SagaExecutionNotStorableException):
        await repository.store(execution)
    assert await repository.load(execution.uuid) == SagaExecution.from_raw(before)
    assert [summary.status for summary in await repository.list()] == [SagaStatus.Created]  # as before


async def test_concurrent_setup_on_fresh_database(injector, fresh_postgres_database):
    repositories = [build_repository(fresh_postgres_database["database"]) for _ in range(3)]
    await asyncio.gather(*(repository.setup() for repository in repositories))
    execution = SagaExecution.from_raw(load_compat("executions-0.7.0.json")[0]["raw"])
    await repositories[0].store(execution)
    assert await repositories[2].load(execution.uuid) == execution
    await asyncio.gather(*(repository.destroy() for repository in repositories))


async def test_list_filters_and_paging(repository, injector):
    documents = load_compat("executions-0.7.0.json")  # some are one execution in several states: keep one each
    executions = list({e.uuid: e for e in (SagaExecution.from_raw(document["raw"]) for document in documents)}.values())
    assert len(executions) >= 6
    for execution in executions:
        await repository.store(execution)
    middle = datetime.now(timezone.utc)
    await repository.store(executions[0])  # now the most recently updated

    everything = await repository.list()
    assert [summary.uuid for summary in everything] == [e.uuid for e in executions[1:]] + [executions[0].uuid]
    assert [summary.updated_at for summary in everything] == sorted(summary.updated_at for summary in everything)
    by_uuid = {summary.uuid: summary for summary in everything}
    for execution in executions:
        assert by_uuid[execution.uuid].status == execution.status
        assert by_uuid[execution.uuid].user == execution.user

    paused = await repository.list(status=SagaStatus.Paused)
    assert {summary.uuid for summary in paused} == {e.uuid for e in executions if e.status == SagaStatus.Paused}
    assert paused and all(summary.status == SagaStatus.Paused for summary in paused)

    older = await repository.list(updated_before=middle)
    assert {summary.uuid for summary in older} == {e.uuid for e in executions[1:]}

    pages = [await repository.list(limit=2)]
    while pages[-1]:
        pages.append(await repository.list(limit=2, after=pages[-1][-1].cursor))
    assert all(len(page) == 2 for page in pages[: len(executions) // 2])
    assert [summary for page in pages for summary in page] == everything

    await repository.delete(executions[1])
    assert len(await repository.list()) == len(executions) - 1


async def test_unreachable_server_raises_quickly():
    repository = PostgreSqlSagaExecutionRepository("nowhere", host="127.0.0.1", port=1, connect_timeout=2)
    started = time.monotonic()
    with pytest.raises(ConnectionException, match="127.0.0.1:1"):
        await repository.setup()
    assert time.monotonic() - started < 5


async def test_not_set_up_raises(injector):
    with pytest.raises(ConnectionException):
        await build_repository().load(uuid4())


async def test_load_missing_raises(repository, injector):
    with pytest.raises(SagaExecutionNotFoundException):
        await repository.load(uuid4())
    with pytest.raises(SagaExecutionNotFoundException):
        await repository.load("not-a-uuid")


# --- selected from a Minos config ---------------------------------------------------------------------------------


def write_config(tmp_path: Path, **saga) -> Config:
    data = yaml.safe_load(CONFIG_FILE_PATH.read_text())
    data["databases"]["saga"] = saga
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(data))
    return Config(path)


async def test_selected_from_config(tmp_path, injector):
    config = write_config(tmp_path, repository="minos.saga.PostgreSqlSagaExecutionRepository", database=DATABASE, **PG)
    manager = SagaManager.from_config(config)
    assert isinstance(manager.storage, PostgreSqlSagaExecutionRepository)
    assert (manager.storage.database, manager.storage.host, manager.storage.port) == (DATABASE, PG["host"], PG["port"])
    await manager.setup()
    try:
        uuid = await manager.run(PAUSING_SAGA, SagaContext(key="config"), pause_on_disk=True, return_execution=False)
        assert (await manager.storage.load(uuid)).status == SagaStatus.Paused
    finally:
        await manager.destroy()


def test_from_config_honours_every_constructor_option(tmp_path):
    config = write_config(
        tmp_path,
        client="minos.common.testing.MockedDatabaseClient",
        repository="minos.saga.PostgreSqlSagaExecutionRepository",
        database="orders",
        host="db.example",
        port=6543,
        user="saga",
        password="secret",
        table_name="order_sagas",
        connect_timeout=2,
        lock_pool_size=3,
        lock_wait_timeout=30,
        minsize=2,
        maxsize=7,
        timeout=12.5,
    )
    repository = PostgreSqlSagaExecutionRepository.from_config(config)
    assert (repository.database, repository.host, repository.port) == ("orders", "db.example", 6543)
    assert (repository.user, repository.password, repository.table_name) == ("saga", "secret", "order_sagas")
    assert (repository.connect_timeout, repository.lock_wait_timeout, repository.lock_pool_size) == (2, 30, 3)
    assert repository.pool_options == {"minsize": 2, "maxsize": 7, "timeout": 12.5}


async def test_config_without_repository_key_keeps_database_repository(injector, config):
    manager = SagaManager.from_config(config)
    assert type(manager.storage) is DatabaseSagaExecutionRepository


# --- managers racing on one paused execution ----------------------------------------------------------------------

SUCCESSES: Counter[str] = Counter()
HANG_ONCE: set[str] = set()
STARTED: dict[str, asyncio.Event] = {}


def reserve(context: SagaContext) -> SagaRequest:
    return SagaRequest("ReserveStock", {"key": context["key"]})


async def reserved(context: SagaContext, response) -> SagaContext:
    key = context["key"]
    if key in HANG_ONCE:  # a replica that dies in the middle of the step
        HANG_ONCE.discard(key)
        STARTED[key].set()
        await asyncio.sleep(3600)
    await asyncio.sleep(0.001)  # widen the window between the load and the store
    SUCCESSES[key] += 1
    context["reserved"] = await response.content()
    return context


def charge(context: SagaContext) -> SagaRequest:
    return SagaRequest("ChargePayment", {"key": context["key"]})


def charged(context: SagaContext, response) -> SagaContext:
    context["charged"] = True
    return context


PAUSING_SAGA = Saga().remote_step(reserve).on_success(reserved).remote_step(charge).on_success(charged).commit()
FINAL_SAGA = Saga().remote_step(reserve).on_success(reserved).commit()


def reply_to(request: BrokerMessage, content) -> SagaResponse:
    """The reply exactly as a Minos participant's dispatcher builds it: request headers echoed."""
    message = BrokerMessageV1(
        topic=request.reply_topic,
        payload=BrokerMessageV1Payload(content, headers=request.headers, status=200),
        identifier=request.identifier,
    )
    return SagaResponse.from_message(message)


@pytest.fixture
async def managers(injector) -> AsyncIterator[list[SagaManager]]:
    managers = [SagaManager(storage=build_repository(maxsize=4)) for _ in range(2)]
    for manager in managers:
        await manager.setup()
    try:
        yield managers
    finally:
        for manager in managers:
            await manager.destroy()


async def start_paused(manager: SagaManager, broker_publisher, definition: Saga) -> tuple[str, UUID, BrokerMessage]:
    key = uuid4().hex
    uuid = await manager.run(definition, SagaContext(key=key), pause_on_disk=True, return_execution=False)
    request = broker_publisher.messages[-1]
    assert request.topic == "ReserveStock" and request.headers["saga"] == str(uuid)
    return key, uuid, request


async def reply_twice_to_each(managers: list[SagaManager], response: SagaResponse) -> list[Any]:
    """The reply delivered twice to each of two replicas at once (redeliveries racing across replicas); what each
    run returned or raised."""
    options = dict(response=response, pause_on_disk=True, raise_on_error=False, autocommit=False)
    first, second = managers
    runs = (manager.run(**options) for manager in (first, second, first, second))
    return await asyncio.gather(*runs, return_exceptions=True)


async def test_race_two_managers_and_redeliveries_run_step_once(managers, broker_publisher):
    first, second = managers
    for _ in range(20):
        key, uuid, request = await start_paused(first, broker_publisher, PAUSING_SAGA)
        results = await reply_twice_to_each(managers, reply_to(request, {"reserved": 3}))

        assert not [result for result in results if isinstance(result, BaseException)]
        assert SUCCESSES[key] == 1
        execution = await second.storage.load(uuid)
        assert execution.status == SagaStatus.Paused
        assert execution.context["reserved"] == {"reserved": 3}
        assert execution.paused_step.definition == PAUSING_SAGA.steps[1]
        assert [message.topic for message in broker_publisher.messages].count("ChargePayment") >= 1


async def test_race_on_final_step_runs_it_once(managers, broker_publisher):
    """When the reply finishes the saga, the execution is deleted: late duplicates find nothing to resume."""
    first, second = managers
    for _ in range(5):
        key, uuid, request = await start_paused(first, broker_publisher, FINAL_SAGA)
        results = await reply_twice_to_each(managers, reply_to(request, {"reserved": 1}))

        assert SUCCESSES[key] == 1
        failures = [result for result in results if isinstance(result, BaseException)]
        assert all(isinstance(failure, SagaExecutionNotFoundException) for failure in failures), failures
        with pytest.raises(SagaExecutionNotFoundException):
            await first.storage.load(uuid)


async def test_replica_killed_mid_step_leaves_resumable_state(managers, broker_publisher):
    first, second = managers
    key, uuid, request = await start_paused(first, broker_publisher, PAUSING_SAGA)
    response = reply_to(request, {"reserved": 2})
    HANG_ONCE.add(key)
    STARTED[key] = asyncio.Event()

    dying = asyncio.create_task(first.run(response=response, pause_on_disk=True, raise_on_error=False))
    await asyncio.wait_for(STARTED[key].wait(), 5)  # it holds the execution's lock, inside the step
    dying.cancel()
    with suppress(asyncio.CancelledError):
        await dying

    stored = await second.storage.load(uuid)  # still the paused state from before the step
    assert stored.status == SagaStatus.Paused and stored.paused_step.definition == PAUSING_SAGA.steps[0]

    execution = await asyncio.wait_for(second.run(response=response, pause_on_disk=True, raise_on_error=False), 5)
    assert SUCCESSES[key] == 1
    assert execution.status == SagaStatus.Paused and execution.paused_step.definition == PAUSING_SAGA.steps[1]
    assert (await first.storage.load(uuid)) == execution


async def test_lock_released_when_lock_holder_connection_dies(managers):
    """A replica whose process dies loses its session: the server frees the advisory lock for the others."""
    first, second = managers
    uuid = uuid4()
    async with first.storage.lock(uuid):
        terminated = query(
            {"database": DATABASE, **PG},
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        assert terminated == [(True,)]
        await asyncio.wait_for(_enter_and_leave(second.storage.lock(uuid)), 5)


async def _enter_and_leave(context) -> None:
    async with context:
        pass
