"""Faults injected into an orchestrator process at public boundaries, never by editing package code.

A parent test names one fault in the ``SAGA_FAULT`` environment variable (JSON): the boundary (``send``,
``compensation_send``, ``store`` or ``apply_reply``), the moment (``before`` or ``after`` the call), which call
(1-based, counted per boundary in this process) and the action: ``kill`` (SIGKILL this process),
``restart_database`` (stop the throwaway server the saga repository uses, so that the call fails, and start it
again once the call returned or failed), ``lose_lock`` (terminate the session
holding the execution lock, redeliver the reply being applied and let another replica handle it) or ``hold_lock``
(hold the execution lock from another session for a while, so that a lock wait outlives ``statement_timeout``).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import os
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, AsyncContextManager, Callable
from uuid import UUID

import aiopg
from minos.networks import BrokerMessage, BrokerPublisher

from minos.saga import PostgreSqlSagaExecutionRepository, SagaExecution

from .servers import PostgresServer, dsn

FAULT_ENV = "SAGA_FAULT"
SAGA_DATABASE_ENV = "SAGA_FAULTS_SAGA_DATABASE"
BROKER_DATABASE_ENV = "SAGA_FAULTS_BROKER_DATABASE"
HOLD_LOCK_SECONDS = 2.0
WAIT_DEADLINE = 10.0

CURRENT_MESSAGE: contextvars.ContextVar[BrokerMessage | None] = contextvars.ContextVar("current_message", default=None)
"""The broker message the orchestrator is dispatching (set by its consumer loop)."""

_calls: Counter[str] = Counter()
_background: set[asyncio.Task] = set()
_after_call: list[Callable[[], None]] = []  # what a fault does once the call it hit returned or failed
_written_at_unlock: contextvars.ContextVar[list[SagaExecution]] = contextvars.ContextVar("written_at_unlock")


def fault_env(boundary: str, moment: str, call: int, action: str = "kill") -> dict[str, str]:
    """The environment entry that injects one fault into an orchestrator process."""
    return {FAULT_ENV: json.dumps({"boundary": boundary, "moment": moment, "call": call, "action": action})}


def install(repository: PostgreSqlSagaExecutionRepository, publisher: BrokerPublisher) -> None:
    """Wrap the repository's ``store`` (and ``store_at_unlock``, whose write is done when the lock, taken by ``lock``
    or ``lock_new``, is released) and the publisher's ``send`` of this process with the fault hooks."""
    store, store_at_unlock, send = repository.store, repository.store_at_unlock, publisher.send

    async def hooked_store(execution: SagaExecution) -> None:
        await reached("store", "before", execution=execution)
        try:
            await store(execution)
        finally:
            await reached("store", "after", execution=execution)

    async def hooked_store_at_unlock(execution: SagaExecution) -> None:
        await reached("store", "before", execution=execution)
        _written_at_unlock.get().append(execution)
        await store_at_unlock(execution)

    def hooked(lock: Callable[[UUID], AsyncContextManager[None]]) -> Callable[[UUID], AsyncContextManager[None]]:
        @asynccontextmanager
        async def hooked_lock(uuid: UUID) -> AsyncIterator[None]:
            token = _written_at_unlock.set([])
            try:
                async with lock(uuid):
                    yield
            finally:
                for execution in _written_at_unlock.get():
                    await reached("store", "after", execution=execution)
                _written_at_unlock.reset(token)

        return hooked_lock

    async def hooked_send(message: BrokerMessage) -> None:
        from .scenario import COMPENSATION_TOPICS

        boundaries = ["send"] + (["compensation_send"] if message.topic in COMPENSATION_TOPICS else [])
        for boundary in boundaries:
            await reached(boundary, "before", message=message)
        await send(message)
        for boundary in boundaries:
            await reached(boundary, "after", message=message)

    repository.store = hooked_store  # type: ignore[method-assign]
    repository.store_at_unlock = hooked_store_at_unlock  # type: ignore[method-assign]
    repository.lock = hooked(repository.lock)  # type: ignore[method-assign]
    repository.lock_new = hooked(repository.lock_new)  # type: ignore[method-assign]
    publisher.send = hooked_send  # type: ignore[method-assign]


async def reached(boundary: str, moment: str = "before", **details: Any) -> None:
    """Count a call at ``boundary`` and run the configured fault if this is the one it names."""
    if moment == "before":
        _calls[boundary] += 1
    else:
        while _after_call:
            _after_call.pop()()
    spec = json.loads(os.environ.get(FAULT_ENV) or "null")
    if spec is None or (spec["boundary"], spec["moment"], spec["call"]) != (boundary, moment, _calls[boundary]):
        return
    await _ACTIONS[spec["action"]](**details)


async def _kill(**details: Any) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


async def _restart_database(**details: Any) -> None:
    """Stop the server now: the call about to run finds it down (and fails); it starts again right after."""
    server = PostgresServer.from_env()
    server.stop()
    _after_call.append(server.start)


async def _lose_lock(**details: Any) -> None:
    """Terminate the sessions holding advisory locks on the saga database (this replica's execution lock), put the
    reply being applied back on the broker (a redelivery), note the fault in ``fault_events`` (the test then starts
    another replica) and wait until another replica has handled the reply."""
    from .broker import enqueue

    await _execute(
        json.loads(os.environ[SAGA_DATABASE_ENV]),
        "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    message = CURRENT_MESSAGE.get()
    assert message is not None, "lose_lock is meant for a reply being applied"
    broker_database = json.loads(os.environ[BROKER_DATABASE_ENV])
    async with aiopg.connect(dsn(broker_database)) as connection, connection.cursor() as cursor:
        await enqueue(cursor, message)
        await cursor.execute("INSERT INTO fault_events (event) VALUES ('lock_lost')")
    await _wait_for(
        broker_database,
        "SELECT count(*) > 0 FROM replica_progress WHERE handled > 0 AND pid <> %s",
        (os.getpid(),),
    )


async def _hold_lock(*, message: BrokerMessage | None = None, execution: SagaExecution | None = None, **_: Any) -> None:
    """Make another session (with a long statement timeout) wait for the execution lock now, and hold it for
    ``HOLD_LOCK_SECONDS`` once granted: a lock wait of this process that follows outlives ``statement_timeout``."""
    uuid = execution.uuid if execution is not None else UUID(message.headers["saga"]) if message is not None else None
    assert uuid is not None, "hold_lock needs the execution a store or send is about"
    saga_database = json.loads(os.environ[SAGA_DATABASE_ENV])
    holder = PostgreSqlSagaExecutionRepository(**(saga_database | {"statement_timeout": 60}))
    await holder.setup()

    async def _hold() -> None:
        try:
            async with holder.lock(uuid):
                await asyncio.sleep(HOLD_LOCK_SECONDS)
        finally:
            await holder.destroy()

    task = asyncio.create_task(_hold())
    _background.add(task)
    task.add_done_callback(_background.discard)
    # This process holds the lock: go on once the holder's session is queued behind it.
    await _wait_for(saga_database, "SELECT count(*) > 0 FROM pg_locks WHERE NOT granted")


async def _execute(database: dict[str, Any], query: str, parameters: tuple[Any, ...] = ()) -> Any:
    async with aiopg.connect(dsn(database)) as connection, connection.cursor() as cursor:
        await cursor.execute(query, parameters)
        return await cursor.fetchone() if cursor.description else None


async def _wait_for(database: dict[str, Any], query: str, parameters: tuple[Any, ...] = ()) -> None:
    """Poll until ``query`` answers true, for at most ``WAIT_DEADLINE`` seconds (then go on regardless: the test
    judges the outcome)."""
    deadline = time.monotonic() + WAIT_DEADLINE
    while time.monotonic() < deadline:
        (done,) = await _execute(database, query, parameters)
        if done:
            return
        await asyncio.sleep(0.01)


_ACTIONS = {"kill": _kill, "restart_database": _restart_database, "lose_lock": _lose_lock, "hold_lock": _hold_lock}
