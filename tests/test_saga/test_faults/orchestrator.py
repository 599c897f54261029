"""An orchestrator process: ``python -m tests.test_saga.test_faults.orchestrator``.

A service that runs :data:`ORDER_SAGA` through ``SagaManager`` over ``PostgreSqlSagaExecutionRepository``, with the
table broker. It starts the orders named in ``SAGA_FAULTS_ORDERS`` one after another (each once the previous one
ended), resumes sagas with replies through ``SagaService`` (one reply at a time, as minos' ``BrokerHandler`` with
one consumer: a handler's ``Exception`` is logged, anything else ends the consumer), accepts the saga transactions
on itself (another consumer) and recovers on start and periodically. Faults come from ``SAGA_FAULT`` (see
``faults``); the process reports its progress in ``replica_progress`` so that a test can tell when the system is at
rest.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from contextlib import suppress
from pathlib import Path
from typing import Any
from uuid import UUID

import aiopg
from minos.common import Config, DependencyInjector
from minos.networks import BrokerClientPool, BrokerDispatcher, BrokerRequest

import minos.saga
from minos.saga import (
    PostgreSqlSagaExecutionRepository,
    SagaContext,
    SagaExecutionNotFoundException,
    SagaManager,
    SagaService,
    SagaStatus,
)

from . import faults
from .broker import POLL_INTERVAL, TablePublisher, TableSubscriber, TableSubscriberBuilder
from .scenario import ORDER_SAGA
from .servers import dsn

logger = logging.getLogger("saga_faults.orchestrator")

CONFIG_FILE_PATH = Path(__file__).resolve().parents[2] / "config.yml"
ORDERS_ENV = "SAGA_FAULTS_ORDERS"
REPLY_TOPIC = "orderReply"  # the reply topic of the ``order`` service of tests/config.yml
# What minos' ``TransactionService`` answers in a Minos 0.7 service: the engine commits each saga on every service
# it touched, this one included. The orders service keeps no aggregates, so it accepts every reservation.
TRANSACTION_TOPICS = ("_ReserveOrderTransaction", "_CommitOrderTransaction", "_RejectOrderTransaction")
START_ON_ENV = "SAGA_FAULTS_START_ON"
RECOVERY_INTERVAL = 0.1
ORDER_WAIT = 3.0
CREATE_PROGRESS = """
    CREATE TABLE IF NOT EXISTS replica_progress (
        pid INT PRIMARY KEY,
        received INT NOT NULL DEFAULT 0,
        handled INT NOT NULL DEFAULT 0,
        recovery_passes INT NOT NULL DEFAULT 0,
        recovered INT NOT NULL DEFAULT 0,
        consuming BOOL NOT NULL DEFAULT TRUE,
        starting_orders BOOL NOT NULL DEFAULT TRUE
    );
    CREATE TABLE IF NOT EXISTS fault_events (event TEXT NOT NULL)
"""


class Progress:
    """This replica's row of ``replica_progress``."""

    def __init__(self, broker_dsn: str):
        self.broker_dsn = broker_dsn
        self._pool: aiopg.Pool | None = None

    async def _execute(self, query: str, parameters: tuple[Any, ...]) -> None:
        assert self._pool is not None, "start the progress first"
        async with self._pool.acquire() as connection, connection.cursor() as cursor:
            await cursor.execute(query, parameters)

    async def start(self) -> None:
        self._pool = await aiopg.create_pool(self.broker_dsn, minsize=1, maxsize=1)
        await self._execute("INSERT INTO replica_progress (pid) VALUES (%s)", (os.getpid(),))

    async def add(self, column: str, amount: int = 1) -> None:
        await self._execute(
            f"UPDATE replica_progress SET {column} = {column} + %s WHERE pid = %s", (amount, os.getpid())
        )

    async def stopped(self, activity: str) -> None:
        """Note that ``consuming`` or ``starting_orders`` ended."""
        await self._execute(f"UPDATE replica_progress SET {activity} = FALSE WHERE pid = %s", (os.getpid(),))


async def consume(subscriber: TableSubscriber, dispatcher: BrokerDispatcher, progress: Progress) -> None:
    try:
        async for message in subscriber:
            await progress.add("received")
            token = faults.CURRENT_MESSAGE.set(message)
            try:
                await dispatcher.dispatch(message)
            except Exception as exc:
                logger.warning("Dispatching %s failed: %r", message.topic, exc)
            finally:
                faults.CURRENT_MESSAGE.reset(token)
            await progress.add("handled")
    finally:
        logger.error("The reply consumer stopped.")
        await progress.stopped("consuming")


async def accept_transaction(request: BrokerRequest) -> None:
    """Accept a reservation, commit or reject of a saga's transaction on this service."""


async def start_orders(manager: SagaManager, orders: list[dict[str, Any]], progress: Progress) -> None:
    """Start each order's saga once the previous one ended (or ``ORDER_WAIT`` passed: a stuck saga must not keep
    the next order from starting; the test judges the end state)."""
    for order in orders:
        try:
            execution = await manager.run(
                ORDER_SAGA, SagaContext(**order), pause_on_disk=True, raise_on_error=False, return_execution=False
            )
        except Exception as exc:
            logger.warning("Starting the saga of %s failed: %r", order, exc)
            continue
        with suppress(asyncio.TimeoutError):
            await asyncio.wait_for(_until_ended(manager, execution), ORDER_WAIT)
    await progress.stopped("starting_orders")


async def _until_ended(manager: SagaManager, uuid: UUID) -> None:
    while True:
        try:
            execution = await manager.storage.load(uuid)
        except SagaExecutionNotFoundException:
            return  # finished (and deleted)
        except Exception as exc:
            logger.warning("Loading the %s execution failed: %r", uuid, exc)
        else:
            if execution.status in (SagaStatus.Finished, SagaStatus.Errored):
                return
        await asyncio.sleep(POLL_INTERVAL)


async def recover_periodically(manager: SagaManager, progress: Progress) -> None:
    """Recover on start and then periodically, as ``SagaService``'s periodic handler does, counting the passes."""
    while True:
        try:
            await progress.add("recovered", await manager.recover())
            await progress.add("recovery_passes")
        except Exception as exc:
            logger.warning("Recovery failed: %r", exc)
        await asyncio.sleep(RECOVERY_INTERVAL)


async def _start_on(broker_dsn: str, event: str) -> None:
    """Wait for the test to note ``event``: a standby replica that is already up (imports are slow)."""
    async with aiopg.connect(broker_dsn) as connection, connection.cursor() as cursor:
        while True:
            await cursor.execute("SELECT count(*) FROM fault_events WHERE event = %s", (event,))
            (noted,) = await cursor.fetchone()
            if noted:
                return
            await asyncio.sleep(POLL_INTERVAL)


async def main() -> None:
    saga_database = json.loads(os.environ[faults.SAGA_DATABASE_ENV])
    broker_dsn = dsn(json.loads(os.environ[faults.BROKER_DATABASE_ENV]))
    if event := os.environ.get(START_ON_ENV):
        await _start_on(broker_dsn, event)
    config = Config(CONFIG_FILE_PATH)
    publisher = TablePublisher(broker_dsn)
    injector = DependencyInjector(config, [publisher, TableSubscriberBuilder().with_kwargs({"dsn": broker_dsn})])
    await injector.wire_and_setup_injections(modules=[minos.saga, sys.modules[__name__]])

    repository = PostgreSqlSagaExecutionRepository(**saga_database)
    # This process recovers on start itself (below), counting what it recovers: not again in ``setup``.
    manager = SagaManager(storage=repository, broker_pool=BrokerClientPool.from_config(config), recover_on_setup=False)
    await manager.setup()
    faults.install(repository, publisher)

    progress = Progress(broker_dsn)
    await progress.start()
    replies, transactions = TableSubscriber({REPLY_TOPIC}, broker_dsn), TableSubscriber(TRANSACTION_TOPICS, broker_dsn)
    await replies.setup()
    await transactions.setup()
    actions = {REPLY_TOPIC: SagaService(saga_manager=manager).__reply__} | dict.fromkeys(
        TRANSACTION_TOPICS, accept_transaction
    )
    dispatcher = BrokerDispatcher(actions, publisher=publisher)
    await asyncio.gather(
        consume(replies, dispatcher, progress),
        consume(transactions, dispatcher, progress),
        start_orders(manager, json.loads(os.environ.get(ORDERS_ENV, "[]")), progress),
        recover_periodically(manager, progress),
        return_exceptions=True,
    )
    await asyncio.Event().wait()  # a service keeps running: the test stops it


def run() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")
    asyncio.run(main())


if __name__ == "__main__":
    run()
