"""The repository of 0.7.0 over a minos ``DatabaseClient``, with the factory of its database operations."""

from __future__ import annotations

from .factories import SagaExecutionDatabaseOperationFactory
from .impl import DatabaseSagaExecutionRepository

__all__ = ["DatabaseSagaExecutionRepository", "SagaExecutionDatabaseOperationFactory"]
