"""PostgreSqlSagaExecutionRepository under faults: fenced stores, bounded waits, server-side cancels, no lock-pool
starvation, and how many round trips the manager's work costs. A real server; each test on a table of its own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID, uuid4

import aiopg
import psycopg2
import pytest
from minos.common import ConnectionException

from minos.saga import (
    PostgreSqlSagaExecutionRepository,
    Saga,
    SagaContext,
    SagaExecution,
    SagaExecutionLockLostException,
    SagaExecutionNotFoundException,
    SagaManager,
    SagaResponse,
    SagaStatus,
)
from minos.saga.executions.repositories.postgresql import advisory_lock_key
from tests.test_saga.utils import add_order, handle_ticket, reply_message, send_create_ticket

from .test_postgresql import PG, build_repository, pg_database  # noqa: F401  (the module's database fixture)

GUARD = 10  # seconds: a test that would hang on today's code fails instead


@pytest.fixture
def table() -> str:
    return f"saga_execution_{uuid4().hex[:8]}"


@pytest.fixture
async def repositories(table) -> AsyncIterator[Any]:
    """Builds set-up repositories on one table (replicas), destroyed at the end."""
    built: list[PostgreSqlSagaExecutionRepository] = []

    async def build(**kwargs) -> PostgreSqlSagaExecutionRepository:
        repository = build_repository(table_name=table, **kwargs)
        await repository.setup()
        built.append(repository)
        return repository

    yield build
    for repository in built:
        await repository.destroy()


async def stored_execution(repository: PostgreSqlSagaExecutionRepository) -> SagaExecution:
    execution = SagaExecution.from_definition(Saga().local_step(add_order).commit(), SagaContext(step=0))
    await repository.store(execution)
    return execution


def admin(statement: str, parameters: tuple = ()) -> Any:
    from .test_postgresql import DATABASE

    connection = psycopg2.connect(dbname=DATABASE, connect_timeout=3, **PG)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement, parameters)
            return cursor.fetchall() if cursor.description else None
    finally:
        connection.close()


TERMINATE_LOCK_HOLDERS = (
    "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


async def lose_the_lock_to(other: PostgreSqlSagaExecutionRepository, uuid: UUID) -> None:
    """The sessions holding execution locks end (e.g. idle_session_timeout, or a network partition); the ``other``
    replica then takes the lock on ``uuid`` and stores its own state."""
    admin(TERMINATE_LOCK_HOLDERS)
    async with other.lock(uuid):
        theirs = await other.load(uuid)
        theirs.context["step"] = "theirs"
        await other.store(theirs)


async def test_a_replica_that_lost_its_lock_changes_nothing(injector, repositories):
    first, second = await repositories(), await repositories()
    execution = await stored_execution(first)
    async with first.lock(execution.uuid):
        mine = await first.load(execution.uuid)
        await lose_the_lock_to(second, execution.uuid)
        mine.context["step"] = "mine"
        with pytest.raises(SagaExecutionLockLostException):
            await first.store(mine)
        with pytest.raises(SagaExecutionLockLostException):
            await first.delete(mine)
    assert (await second.load(execution.uuid)).context["step"] == "theirs"


@pytest.mark.parametrize("write_at_unlock", ["store_at_unlock", "delete_at_unlock"])
async def test_a_replica_that_lost_its_lock_writes_nothing_at_the_unlock(injector, repositories, write_at_unlock):
    first, second = await repositories(), await repositories()
    execution = await stored_execution(first)
    with pytest.raises(SagaExecutionLockLostException):
        async with first.lock(execution.uuid):
            mine = await first.load(execution.uuid)
            mine.context["step"] = "mine"
            await getattr(first, write_at_unlock)(mine)
            await lose_the_lock_to(second, execution.uuid)
    assert (await second.load(execution.uuid)).context["step"] == "theirs"


async def test_the_lock_is_held_until_the_store_at_the_unlock_commits(injector, repositories):
    """The unlock travels with the last store, but no other process gets the lock before that store is visible:
    one that did would read the previous version and run the step again."""
    repository = await repositories()
    execution = await stored_execution(repository)
    holder = await aiopg.connect(repository.dsn)  # holds the row, so the last store waits on it
    try:
        async with holder.cursor() as cursor:
            lock_row = f"BEGIN; SELECT 1 FROM {repository.table_name} WHERE uuid = %s FOR UPDATE"
            await cursor.execute(lock_row, (str(execution.uuid),))

        async def resume() -> None:
            async with repository.lock(execution.uuid):
                resumed = await repository.load(execution.uuid)
                resumed.context["step"] = "resumed"
                await repository.store_at_unlock(resumed)

        resuming = asyncio.create_task(resume())
        key = advisory_lock_key(execution.uuid)
        await asyncio.wait_for(_until(WAITING_ON_THE_ROW), GUARD)  # the last round trip waits on the row
        assert admin("SELECT pg_try_advisory_lock(%s)", (key,)) == [(False,)]
        async with holder.cursor() as cursor:
            await cursor.execute("ROLLBACK")
        await asyncio.wait_for(resuming, GUARD)
    finally:
        holder.close()
    assert admin("SELECT pg_try_advisory_lock(%s)", (key,)) == [(True,)]
    assert (await repository.load(execution.uuid)).context["step"] == "resumed"


WAITING_ON_THE_ROW = (
    "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
    "AND datname = current_database() AND query LIKE '%%pg_advisory_xact_lock%%'"
)


async def test_a_store_under_the_lock_is_conditional_on_the_version_it_read(injector, repositories):
    first, second = await repositories(), await repositories()
    execution = await stored_execution(first)
    async with first.lock(execution.uuid):
        mine = await first.load(execution.uuid)
        theirs = await second.load(execution.uuid)
        theirs.context["step"] = "theirs"
        await second.store(theirs)  # a writer that did not take the lock
        mine.context["step"] = "mine"
        with pytest.raises(SagaExecutionLockLostException):
            await first.store(mine)
    assert (await second.load(execution.uuid)).context["step"] == "theirs"


async def test_a_lock_wait_is_bounded_by_the_server_and_raises_a_connection_exception(injector, repositories):
    repository = await repositories(lock_wait_timeout=0.3)
    uuid = uuid4()
    holder = await aiopg.connect(repository.dsn)
    try:
        async with holder.cursor() as cursor:
            await cursor.execute("SELECT pg_advisory_lock(%s)", (advisory_lock_key(uuid),))
        with pytest.raises(ConnectionException):
            await asyncio.wait_for(_enter_and_leave(repository.lock(uuid)), GUARD)
    finally:
        holder.close()


async def test_a_new_executions_lock_taken_at_its_first_read_raises_a_connection_exception(injector, repositories):
    """``lock_new`` defers the lock to the first write or read: a read that then waits too long for it fails as a
    lock taken up front does."""
    repository = await repositories(lock_wait_timeout=0.3)
    uuid = uuid4()
    holder = await aiopg.connect(repository.dsn)

    async def read_under_a_new_lock() -> None:
        async with repository.lock_new(uuid):
            await repository.load(uuid)

    try:
        async with holder.cursor() as cursor:
            await cursor.execute("SELECT pg_advisory_lock(%s)", (advisory_lock_key(uuid),))
        with pytest.raises(ConnectionException):
            await asyncio.wait_for(read_under_a_new_lock(), GUARD)
    finally:
        holder.close()


async def test_a_server_side_statement_cancel_is_a_connection_exception_and_commits_nothing(injector, repositories):
    repository = await repositories(statement_timeout=0.3, lock_wait_timeout=5)
    execution = await stored_execution(repository)
    holder = await aiopg.connect(repository.dsn)  # holds the row, so the store waits on it
    try:
        async with holder.cursor() as cursor:
            lock_row = f"BEGIN; SELECT 1 FROM {repository.table_name} WHERE uuid = %s FOR UPDATE"
            await cursor.execute(lock_row, (str(execution.uuid),))
        execution.context["step"] = "late"
        with pytest.raises(ConnectionException):
            await asyncio.wait_for(repository.store(execution), GUARD)
        async with holder.cursor() as cursor:
            await cursor.execute("ROLLBACK")
    finally:
        holder.close()
    assert (await repository.load(execution.uuid)).context["step"] == 0  # the timed-out store never committed


async def _until(query: str) -> None:
    """Poll ``query`` (on a connection of its own) until it returns a row: a state of the server no event reports."""
    while not admin(query):
        await asyncio.sleep(0.01)


async def _enter_and_leave(context) -> None:
    async with context:
        pass


# -- the manager on a lock pool of one connection ------------------------------------------------------------------

NESTED: list[SagaManager] = []  # the manager the step below starts its saga with


async def start_a_saga(context: SagaContext) -> SagaContext:
    inner = await NESTED[0].run(Saga().local_step(add_order).commit(), pause_on_disk=True, autocommit=False)
    context["inner"] = inner.status.value
    return context


@pytest.fixture
async def manager(injector, broker_pool, repositories) -> AsyncIterator[SagaManager]:
    manager = SagaManager(storage=await repositories(lock_pool_size=1), broker_pool=broker_pool)
    await manager.setup()
    yield manager
    await manager.destroy()


async def test_a_saga_started_from_a_step_does_not_deadlock_the_lock_pool(manager):
    NESTED.append(manager)
    try:
        saga = Saga().local_step(start_a_saga).commit()
        execution = await asyncio.wait_for(manager.run(saga, pause_on_disk=True, autocommit=False), GUARD)
    finally:
        NESTED.clear()
    assert execution.status == SagaStatus.Finished and execution.context["inner"] == "finished"


async def test_a_saga_waiting_in_memory_holds_no_lock_connection(manager, broker_publisher):
    waiting_saga = Saga().remote_step(send_create_ticket).on_success(handle_ticket).commit()
    waiting = asyncio.create_task(manager.run(waiting_saga, autocommit=False))  # waits for its reply in memory
    try:
        await asyncio.wait_for(broker_publisher.wait_for_message(0), GUARD)  # its request is out: it waits
        other = await asyncio.wait_for(manager.run(waiting_saga, pause_on_disk=True, autocommit=False), GUARD)
        assert other.status == SagaStatus.Paused
    finally:
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)


@pytest.fixture
def round_trips(monkeypatch) -> list[list[str]]:
    """The statements of every round trip from now on: a list per ``execute``, of each statement's kind."""
    recorded: list[list[str]] = []
    execute = aiopg.Cursor.execute

    async def recording(self, operation, *args, **kwargs):
        recorded.append([_statement_kind(statement) for statement in operation.split(";") if statement.strip()])
        return await execute(self, operation, *args, **kwargs)

    monkeypatch.setattr(aiopg.Cursor, "execute", recording)
    return recorded


TWO_REMOTE_STEPS = (
    Saga().remote_step(send_create_ticket).on_success(handle_ticket).remote_step(send_create_ticket).commit()
)


async def test_round_trips_of_a_start(manager, broker_publisher, round_trips):
    """The new execution's lock is taken with its first store (with the request); storing that it was sent
    releases it. A connection's first use prepares the repository's statements, once."""
    first = await manager.run(TWO_REMOTE_STEPS, pause_on_disk=True, autocommit=False)
    execution = await manager.run(TWO_REMOTE_STEPS, pause_on_disk=True, autocommit=False)
    assert execution.status == SagaStatus.Paused
    start = [
        ["pg_advisory_lock", "minos_saga_insert"],
        ["pg_advisory_xact_lock", "pg_advisory_unlock", "minos_saga_update"],
    ]
    assert round_trips == [["PREPARE"] * 8, *start, *start], round_trips
    assert (await manager.storage.load(execution.uuid)) == execution
    assert (await manager.storage.load(first.uuid)) == first


async def test_a_local_saga_that_finishes_at_once_costs_no_round_trip(manager, round_trips):
    execution = await manager.run(Saga().local_step(add_order).commit(), pause_on_disk=True, autocommit=False)
    assert execution.status == SagaStatus.Finished
    assert round_trips == []


async def test_round_trips_of_a_resume(manager, broker_publisher, round_trips):
    """Lock and read in one round trip; store with the next request; store that it was sent and unlock in one."""
    execution, resumed = await _resumed_by_its_first_reply(manager, broker_publisher, round_trips, TWO_REMOTE_STEPS)
    assert resumed.uuid == execution.uuid and resumed.status == SagaStatus.Paused
    assert round_trips == [
        ["pg_advisory_lock", "minos_saga_read_for_reply"],
        ["minos_saga_update"],
        ["pg_advisory_xact_lock", "pg_advisory_unlock", "minos_saga_update"],
    ], round_trips
    assert (await manager.storage.load(execution.uuid)) == resumed  # the last store was written


async def test_round_trips_of_a_resume_that_finishes_the_saga(manager, broker_publisher, round_trips):
    """Lock and read in one round trip; delete and unlock in another."""
    saga = Saga().remote_step(send_create_ticket).on_success(handle_ticket).commit()
    execution, finished = await _resumed_by_its_first_reply(manager, broker_publisher, round_trips, saga)
    assert finished.uuid == execution.uuid and finished.status == SagaStatus.Finished
    assert round_trips == [
        ["pg_advisory_lock", "minos_saga_read_for_reply"],
        ["pg_advisory_xact_lock", "pg_advisory_unlock", "minos_saga_delete_version"],
    ], round_trips
    with pytest.raises(SagaExecutionNotFoundException):
        await manager.storage.load(execution.uuid)


async def _resumed_by_its_first_reply(manager, broker_publisher, round_trips, saga):
    """Start ``saga`` paused on disk, then resume it with a reply to its first request; the round trips recorded are
    the resume's only. Returns the paused execution and the resumed one."""
    execution = await manager.run(saga, pause_on_disk=True, autocommit=False)
    round_trips.clear()
    response = SagaResponse.from_message(reply_message(broker_publisher.messages[-1], "t1"))
    return execution, await manager.run(response=response, pause_on_disk=True, autocommit=False)


async def test_a_new_execution_is_locked_from_its_first_store_until_the_block_ends(injector, repositories):
    repository = await repositories()
    execution = SagaExecution.from_definition(Saga().local_step(add_order).commit(), SagaContext(step=0))
    key = advisory_lock_key(execution.uuid)
    async with repository.lock_new(execution.uuid):
        assert admin("SELECT pg_try_advisory_lock(%s)", (key,)) == [(True,)]  # nothing stored: nobody knows it
        await repository.store(execution)
        assert admin("SELECT pg_try_advisory_lock(%s)", (key,)) == [(False,)]
        execution.context["step"] = 1
        await repository.store(execution)
    assert admin("SELECT pg_try_advisory_lock(%s)", (key,)) == [(True,)]
    assert (await repository.load(execution.uuid)).context["step"] == 1


async def test_a_new_execution_lock_does_not_overwrite_a_stored_one(injector, repositories):
    repository = await repositories()
    execution = await stored_execution(repository)
    execution.context["step"] = "overwritten"
    with pytest.raises(SagaExecutionLockLostException):
        async with repository.lock_new(execution.uuid):
            await repository.store(execution)
    with pytest.raises(SagaExecutionLockLostException):
        async with repository.lock_new(execution.uuid):
            await repository.store_at_unlock(execution)
    assert (await repository.load(execution.uuid)).context["step"] == 0


def _statement_kind(statement: str) -> str:
    """The advisory-lock function a statement calls, the name of the prepared statement it executes, else its
    first word (``PREPARE`` for one that prepares a statement, whatever that calls)."""
    first, *rest = statement.split()
    if first == "PREPARE":
        return first
    for function in ("pg_advisory_xact_lock", "pg_advisory_unlock", "pg_advisory_lock"):
        if f"{function}(" in statement:
            return function
    if first == "EXECUTE":
        return rest[0].split("(")[0]
    return first.upper()


async def test_round_trips_of_a_duplicated_reply(manager, broker_publisher, round_trips):
    """A reply the execution already applied is read and its lock released in one round trip."""
    execution, resumed = await _resumed_by_its_first_reply(manager, broker_publisher, round_trips, TWO_REMOTE_STEPS)
    first_reply = SagaResponse.from_message(reply_message(broker_publisher.messages[-2], "t1"))
    round_trips.clear()
    ignored = await manager.run(response=first_reply, pause_on_disk=True, autocommit=False)
    assert round_trips == [["pg_advisory_lock", "minos_saga_read_for_reply"]], round_trips
    assert ignored == resumed and (await manager.storage.load(execution.uuid)) == resumed
    assert admin("SELECT pg_try_advisory_lock(%s)", (advisory_lock_key(execution.uuid),)) == [(True,)]


@pytest.fixture
async def awaiting(manager, broker_publisher) -> SagaExecution:
    """An execution paused on disk on its first remote step."""
    execution = await manager.run(TWO_REMOTE_STEPS, pause_on_disk=True, autocommit=False)
    assert execution.awaited_request == broker_publisher.messages[-1].identifier
    return execution


def lock_is_held(execution: SagaExecution) -> bool:
    """Whether some session holds the execution's lock (asked from another one, which ends at once)."""
    return admin("SELECT pg_try_advisory_lock(%s)", (advisory_lock_key(execution.uuid),)) == [(False,)]


async def test_the_lock_for_a_reply_to_another_request_is_released_as_the_execution_is_read(manager, awaiting):
    async with manager.storage.lock_for_reply(awaiting.uuid, uuid4()):
        assert not lock_is_held(awaiting)
        assert (await manager.storage.load(awaiting.uuid)) == awaiting


async def test_the_lock_for_a_reply_to_the_awaited_request_is_kept(manager, awaiting):
    async with manager.storage.lock_for_reply(awaiting.uuid, awaiting.awaited_request):
        assert lock_is_held(awaiting)
    assert not lock_is_held(awaiting)


# Changes to the stored document of ``awaiting`` after which a reply to another request may apply, or may not: it
# is decided after loading, under the lock. ``%(another)s`` is that request.
DECIDED_AFTER_LOADING = {
    "that request in its outbox (an awaited compensation)": "jsonb_set(document, '{orchestrator,outbox}', "
    "document #> '{orchestrator,outbox}' || jsonb_build_array(jsonb_build_object('identifier', %(another)s)))",
    "an outbox message without identifier": "jsonb_set(document, '{orchestrator,outbox}', "
    "document #> '{orchestrator,outbox}' || '[{}]')",
    "waiting for reservations": """document || '{"reservations": {}}'""",
    "no awaited request known (as 0.7.0 writes)": "document #- '{orchestrator,awaiting}'",
}


@pytest.mark.parametrize("change", DECIDED_AFTER_LOADING.values(), ids=list(DECIDED_AFTER_LOADING))
async def test_the_lock_for_a_reply_is_kept_unless_the_execution_surely_ignores_it(manager, awaiting, table, change):
    another = uuid4()
    parameters = {"another": str(another), "uuid": str(awaiting.uuid)}
    admin(f"UPDATE {table} SET document = {change} WHERE uuid = %(uuid)s", parameters)
    async with manager.storage.lock_for_reply(awaiting.uuid, another):
        assert lock_is_held(awaiting)


async def test_a_store_after_the_lock_was_released_for_an_ignored_reply_takes_it_again(manager, awaiting):
    async with manager.storage.lock_for_reply(awaiting.uuid, uuid4()):
        loaded = await manager.storage.load(awaiting.uuid)
        loaded.context["written"] = True
        await manager.storage.store(loaded)
        assert lock_is_held(awaiting)
    assert not lock_is_held(awaiting)
    assert (await manager.storage.load(awaiting.uuid)).context["written"] is True


async def test_a_store_after_the_lock_was_released_for_an_ignored_reply_changes_nothing_the_row_changed(
    manager, awaiting, repositories
):
    other = await repositories()
    async with manager.storage.lock_for_reply(awaiting.uuid, uuid4()):
        mine = await manager.storage.load(awaiting.uuid)
        async with other.lock(awaiting.uuid):  # free: another replica takes it and stores its own state
            theirs = await other.load(awaiting.uuid)
            theirs.context["step"] = "theirs"
            await other.store(theirs)
        mine.context["step"] = "mine"
        with pytest.raises(SagaExecutionLockLostException):
            await manager.storage.store(mine)
    assert (await other.load(awaiting.uuid)).context["step"] == "theirs"
