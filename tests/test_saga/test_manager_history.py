"""SagaManager's history: finished executions kept for a retention period instead of deleted (off by default).

The sagas run with autocommit off: they finish without waiting for a participant to answer their commit.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from minos.common import Config, DatabaseClientPool

import minos.saga.testing  # noqa: F401  (registers the operation factory of MockedDatabaseClient)
from minos.saga import (
    DatabaseSagaExecutionRepository,
    InMemorySagaExecutionRepository,
    Saga,
    SagaExecutionNotFoundException,
    SagaManager,
    SagaStatus,
)
from tests.test_saga.utils import add_order, send_create_ticket


def local_saga() -> Saga:
    return Saga().local_step(add_order).commit()


@pytest.fixture
async def storage():
    storage = InMemorySagaExecutionRepository()
    await storage.setup()
    yield storage
    await storage.destroy()


async def test_finished_executions_are_deleted_by_default(storage, broker_pool):
    execution = await SagaManager(storage=storage, broker_pool=broker_pool).run(
        local_saga(), pause_on_disk=True, autocommit=False
    )
    assert execution.status == SagaStatus.Finished
    with pytest.raises(SagaExecutionNotFoundException):
        await storage.load(execution.uuid)


async def test_finished_executions_are_kept_then_purged_after_the_retention(storage, broker_pool):
    keeping = SagaManager(storage=storage, broker_pool=broker_pool, keep_finished_for=timedelta(days=1))
    first = await keeping.run(local_saga(), pause_on_disk=True, autocommit=False)
    second = await keeping.run(local_saga(), pause_on_disk=True, autocommit=False)
    assert await storage.load(first.uuid) == first
    assert [s.uuid for s in await storage.list(status="finished")] == [first.uuid, second.uuid]

    # A manager with a retention shorter than the time elapsed since then purges both when its own saga finishes.
    short = SagaManager(storage=storage, broker_pool=broker_pool, keep_finished_for=timedelta(microseconds=1))
    third = await short.run(local_saga(), pause_on_disk=True, autocommit=False)
    assert [s.uuid for s in await storage.list()] == [third.uuid]


async def test_paused_and_errored_executions_are_not_purged(storage, broker_pool):
    paused = await SagaManager(storage=storage, broker_pool=broker_pool).run(
        Saga().remote_step(send_create_ticket).commit(), pause_on_disk=True
    )
    short = SagaManager(storage=storage, broker_pool=broker_pool, keep_finished_for=timedelta(microseconds=1))
    await short.run(local_saga(), pause_on_disk=True, autocommit=False)
    assert paused.uuid in {s.uuid for s in await storage.list()}


@pytest.mark.parametrize(
    ("keep", "error"), [(3600, TypeError), (timedelta(0), ValueError), (timedelta(seconds=-1), ValueError)]
)
def test_wrong_retention_raises(keep, error, broker_pool):
    with pytest.raises(error):
        SagaManager(storage=InMemorySagaExecutionRepository(), broker_pool=broker_pool, keep_finished_for=keep)


def test_retention_needs_a_storage_that_purges(config, broker_pool):
    with pytest.raises(ValueError, match="purge"):
        SagaManager(
            storage=DatabaseSagaExecutionRepository(database_pool=DatabaseClientPool.from_config(config, key="saga")),
            broker_pool=broker_pool,
            keep_finished_for=timedelta(days=1),
        )


def test_retention_from_config(tmp_path: Path, broker_pool):
    path = tmp_path / "config.yml"
    path.write_text(
        "version: 2\nname: order\ndatabases:\n  default:\n    client: minos.common.testing.MockedDatabaseClient\n"
        "  saga:\n    repository: minos.saga.InMemorySagaExecutionRepository\n    keep_finished_for: 86400\n"
    )
    manager = SagaManager.from_config(Config(path), broker_pool=broker_pool)
    assert manager.keep_finished_for == timedelta(days=1)
