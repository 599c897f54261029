"""Where executions are kept while they wait: the repository interface, listing and purging, and the
in-memory, minos-database and PostgreSQL repositories."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..._lazy import lazy_attributes
from .abc import SagaExecutionRepository
from .database import DatabaseSagaExecutionRepository, SagaExecutionDatabaseOperationFactory
from .listing import (
    SagaExecutionCursor,
    SagaExecutionLister,
    SagaExecutionPurger,
    SagaExecutionQuery,
    SagaExecutionSummary,
)
from .memory import InMemorySagaExecutionRepository

if TYPE_CHECKING:
    from .postgresql import PostgreSqlSagaExecutionRepository

__all__ = [
    "DatabaseSagaExecutionRepository",
    "InMemorySagaExecutionRepository",
    "PostgreSqlSagaExecutionRepository",
    "SagaExecutionDatabaseOperationFactory",
    "SagaExecutionRepository",
    "SagaExecutionSummary",
    "SagaExecutionCursor",
    "SagaExecutionLister",
    "SagaExecutionPurger",
    "SagaExecutionQuery",
]


__getattr__ = lazy_attributes(__name__, {"PostgreSqlSagaExecutionRepository": ".postgresql"})
