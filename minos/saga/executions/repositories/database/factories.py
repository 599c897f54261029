"""The database operations a saga repository needs; each database client registers its implementation."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any
from uuid import UUID

from minos.common import DatabaseOperation, DatabaseOperationFactory


class SagaExecutionDatabaseOperationFactory(DatabaseOperationFactory, ABC):
    """Builds store/load/delete operations for raw saga execution documents keyed by uuid."""

    @abstractmethod
    def build_store(self, uuid: UUID, **kwargs: Any) -> DatabaseOperation:
        """Store (insert or overwrite) the raw execution whose fields are ``kwargs``."""

    @abstractmethod
    def build_load(self, uuid: UUID) -> DatabaseOperation:
        """Fetch the raw execution stored under ``uuid``."""

    @abstractmethod
    def build_delete(self, uuid: UUID) -> DatabaseOperation:
        """Delete the execution stored under ``uuid``."""
