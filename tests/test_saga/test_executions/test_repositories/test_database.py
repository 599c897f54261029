"""DatabaseSagaExecutionRepository over minos' MockedDatabaseClient."""

from __future__ import annotations

from unittest.mock import patch
from uuid import uuid4

import pytest
from minos.common import DatabaseClientPool, ProgrammingException
from minos.common.testing import MockedDatabaseClient, MockedDatabaseOperation

import minos.saga.testing  # noqa: F401  (registers the factory for MockedDatabaseClient)
from minos.saga import (
    DatabaseSagaExecutionRepository,
    Saga,
    SagaContext,
    SagaExecution,
    SagaExecutionDatabaseOperationFactory,
    SagaExecutionNotFoundException,
)
from minos.saga.testing import MockedSagaExecutionDatabaseOperationFactory
from tests.test_saga.utils import add_order


@pytest.fixture
async def repository(config):
    pool = DatabaseClientPool.from_config(config, key="saga")
    repository = DatabaseSagaExecutionRepository(database_pool=pool)
    await repository.setup()
    yield repository
    await repository.destroy()
    await pool.destroy()


def test_factory_registered():
    assert MockedDatabaseClient.get_factory(SagaExecutionDatabaseOperationFactory) is not None
    factory = MockedSagaExecutionDatabaseOperationFactory()
    assert isinstance(factory.build_load(uuid4()), MockedDatabaseOperation)


async def test_store_builds_store_with_raw(repository):
    execution = SagaExecution.from_definition(Saga().local_step(add_order).commit(), SagaContext(a=1))
    calls = []
    original = MockedSagaExecutionDatabaseOperationFactory.build_store

    def spy(self, uuid, **kwargs):
        calls.append((uuid, kwargs))
        return original(self, uuid, **kwargs)

    with patch.object(MockedSagaExecutionDatabaseOperationFactory, "build_store", spy):
        await repository.store(execution)
    [(uuid, fields)] = calls
    assert uuid == str(execution.uuid)
    assert fields["status"] == "created"


async def test_load(repository):
    execution = SagaExecution.from_definition(Saga().local_step(add_order).commit(), SagaContext(a=1))
    with patch.object(MockedDatabaseClient, "fetch_one", return_value=execution.raw):
        assert await repository.load(execution.uuid) == execution


async def test_load_missing(repository):
    with (
        patch.object(MockedDatabaseClient, "fetch_one", side_effect=ProgrammingException("")),
        pytest.raises(SagaExecutionNotFoundException),
    ):
        await repository.load(uuid4())


async def test_delete_builds_delete_for_the_uuid_and_executes_it(repository):
    uuid = uuid4()
    built = []
    original = MockedSagaExecutionDatabaseOperationFactory.build_delete

    def spy(self, uuid):
        operation = original(self, uuid)
        built.append((uuid, operation))
        return operation

    with (
        patch.object(MockedSagaExecutionDatabaseOperationFactory, "build_delete", spy),
        patch.object(MockedDatabaseClient, "execute") as execute,
    ):
        await repository.delete(uuid)
    [(deleted, operation)] = built
    assert deleted == uuid
    execute.assert_awaited_once_with(operation)
