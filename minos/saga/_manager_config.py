"""How ``SagaManager`` reads a service's config: the repository it names and the ``saga`` database entry."""

from __future__ import annotations

from typing import Any

from minos.common import Config, Inject, MinosConfigException, NotProvidedException, import_module

from .executions import DatabaseSagaExecutionRepository, SagaExecutionRepository

REPOSITORY_INJECTION_NAME = "saga_execution_repository"


def _storage_from_config(config: Config) -> SagaExecutionRepository:
    """The repository a config names: an injected ``saga_execution_repository``, the class under the ``saga``
    database's ``repository`` key, or (as in 0.7.0) a ``DatabaseSagaExecutionRepository``."""
    try:
        return Inject.resolve_by_name(REPOSITORY_INJECTION_NAME)
    except NotProvidedException:
        pass
    repository_cls: Any = DatabaseSagaExecutionRepository
    database = _saga_database(config)
    if path := database.get("repository"):
        repository_cls = import_module(path) if isinstance(path, str) else path
    return repository_cls.from_config(config)


def _saga_database(config: Config) -> dict[str, Any]:
    try:
        return dict(config.get_database_by_name("saga"))
    except MinosConfigException:  # no ``saga`` database: 0.7.0's default repository
        return {}
