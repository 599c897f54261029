"""A third-party repository written for 0.7.0 plugs in unchanged: ``minos-database-lmdb`` 0.7.0 registers its own
``SagaExecutionDatabaseOperationFactory``, and ``DatabaseSagaExecutionRepository`` stores executions through it."""

from __future__ import annotations

import tempfile
from pathlib import Path

import minos.plugins.lmdb  # noqa: F401  (registers the plugin's factories on its client)
import pytest
from minos.common import Config, DatabaseClientPool, PoolFactory

from minos.saga import DatabaseSagaExecutionRepository, SagaExecution, SagaExecutionLister
from minos.saga.testing import SagaExecutionRepositoryContract, SagaExecutionRepositoryTestCase
from tests.helpers import load_compat

CONFIG = """version: 2
name: order
databases:
  default:
    client: minos.plugins.lmdb.LmdbDatabaseClient
    path: {path}
  saga:
    client: minos.plugins.lmdb.LmdbDatabaseClient
    path: {path}
"""


def write_config(directory: Path) -> Path:
    path = directory / "config.yml"
    path.write_text(CONFIG.format(path=directory / "lmdb"))
    return path


class TestLmdbPluginRepository(SagaExecutionRepositoryTestCase):
    __test__ = True

    def get_config_file_path(self) -> Path:
        self._directory = tempfile.TemporaryDirectory()
        return write_config(Path(self._directory.name))

    def get_injections(self):
        return [PoolFactory.from_config(self.config, default_classes={"database": DatabaseClientPool})]

    def build_saga_execution_repository(self) -> DatabaseSagaExecutionRepository:
        return DatabaseSagaExecutionRepository.from_config(self.config)

    def tearDown(self) -> None:
        super().tearDown()
        self._directory.cleanup()


class TestLmdbPluginContract(SagaExecutionRepositoryContract):
    __test__ = True

    def setUp(self) -> None:
        super().setUp()
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        self.config = Config(write_config(Path(directory.name)))

    def build_repository(self) -> DatabaseSagaExecutionRepository:
        pool_factory = PoolFactory.from_config(self.config, default_classes={"database": DatabaseClientPool})
        self.addAsyncCleanup(pool_factory.destroy)
        return DatabaseSagaExecutionRepository(pool_factory=pool_factory)

    def test_cannot_list(self) -> None:
        self.assertNotIsInstance(self.build_repository(), SagaExecutionLister)


@pytest.mark.parametrize("document", load_compat("executions-0.7.0.json"), ids=lambda document: document["name"])
async def test_compat_documents_round_trip(document, tmp_path, injector):
    from minos.common import Config

    config = Config(write_config(tmp_path))
    pool_factory = PoolFactory.from_config(config, default_classes={"database": DatabaseClientPool})
    repository = DatabaseSagaExecutionRepository(pool_factory=pool_factory)
    await repository.setup()
    try:
        execution = SagaExecution.from_raw(document["raw"])
        await repository.store(execution)
        assert await repository.load(execution.uuid) == execution
    finally:
        await repository.destroy()
        await pool_factory.destroy()
