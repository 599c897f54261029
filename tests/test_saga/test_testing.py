"""minos.saga.testing: the repository test case runs 0.7.0's scenarios with 0.7.0's repository calls."""

from __future__ import annotations

import unittest
from typing import Any
from uuid import UUID

import psycopg2
import pytest
from minos.common import MinosTypeAttributeException

from minos.saga import InMemorySagaExecutionRepository, SagaExecution, SagaExecutionRepository
from minos.saga.testing import Foo, SagaExecutionRepositoryTestCase, throwaway_database
from tests._postgres import query
from tests.helpers import CONFIG_FILE_PATH

# Observed on 0.7.0's test case (black box): each scenario's repository calls and the type of their argument.
CALLS_0_7_0 = {
    "test_store": [("store", "SagaExecution"), ("load", "UUID")],
    "test_store_overwrite": [
        ("store", "SagaExecution"),
        ("load", "UUID"),
        ("store", "SagaExecution"),
        ("load", "UUID"),
        ("load", "UUID"),
    ],
    "test_load_from_str": [("store", "SagaExecution"), ("load", "str")],
    "test_load_raises": [("load", "UUID")],
    "test_delete": [("store", "SagaExecution"), ("delete", "SagaExecution"), ("load", "UUID")],
    "test_delete_from_str": [("store", "SagaExecution"), ("delete", "str"), ("load", "UUID")],
}


class RecordingRepository(InMemorySagaExecutionRepository):
    def __init__(self, calls: list[tuple[str, str]]):
        super().__init__()
        self.calls = calls

    async def store(self, execution: SagaExecution) -> None:
        self.calls.append(("store", type(execution).__name__))
        await super().store(execution)

    async def load(self, uuid: Any) -> SagaExecution:
        self.calls.append(("load", type(uuid).__name__))
        return await super().load(uuid)

    async def delete(self, uuid: Any) -> None:
        self.calls.append(("delete", type(uuid).__name__))
        await super().delete(uuid)


def run_case(case: type[SagaExecutionRepositoryTestCase]) -> dict[str, list[tuple[str, str]]]:
    calls: dict[str, list[tuple[str, str]]] = {}

    class Recorded(case):  # type: ignore[valid-type, misc]
        CONFIG_FILE_PATH = CONFIG_FILE_PATH

        def build_saga_execution_repository(self) -> SagaExecutionRepository:
            return RecordingRepository(calls.setdefault(self._testMethodName, []))

    result = unittest.TestResult()
    unittest.defaultTestLoader.loadTestsFromTestCase(Recorded).run(result)
    assert result.wasSuccessful(), result.errors + result.failures
    return calls


def test_repository_case_runs_exactly_the_scenarios_and_calls_of_0_7_0():
    assert run_case(SagaExecutionRepositoryTestCase) == CALLS_0_7_0


def test_case_executions():
    executions: list[SagaExecution] = []

    class Capture(SagaExecutionRepositoryTestCase):
        CONFIG_FILE_PATH = CONFIG_FILE_PATH

        def build_saga_execution_repository(self) -> SagaExecutionRepository:
            return InMemorySagaExecutionRepository()

        async def test_store(self) -> None:
            executions.extend([self.execution, self.another])

    Capture("test_store").run(unittest.TestResult())
    finished, new = executions
    assert finished.status.value == "finished" and new.status.value == "created"
    assert isinstance(finished.uuid, UUID) and finished.uuid != new.uuid
    assert finished.executed_steps[0].related_services == {"order"}


def test_foo_model():
    assert Foo("bar").foo == "bar"
    assert Foo.from_avro_str(Foo("bar").avro_str) == Foo("bar")
    with pytest.raises(MinosTypeAttributeException):
        Foo(1)


def test_throwaway_database_is_new_and_dropped_even_with_clients_connected(postgres):
    with throwaway_database(postgres, "minos_saga_testing") as database:
        assert database == {**postgres, "database": database["database"]}
        assert database["database"].startswith("minos_saga_testing_")
        assert query(database, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]
        client = psycopg2.connect(connect_timeout=3, **database)  # still connected when the block ends
    try:
        assert query({**postgres, "database": "postgres"}, EXISTS, database["database"]) == [(False,)]
    finally:
        client.close()


EXISTS = "SELECT EXISTS (SELECT FROM pg_database WHERE datname = %s)"
