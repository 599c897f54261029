"""Where executions are kept while they wait: the repository interface, listing and purging, storing in parts,
and the in-memory, minos-database and PostgreSQL repositories."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..._lazy import lazy_attributes
from .abc import SagaExecutionRepository
from .database import DatabaseSagaExecutionRepository, SagaExecutionDatabaseOperationFactory
from .incremental import IncrementalSagaExecutionRepository, SagaExecutionParts
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
    "IncrementalSagaExecutionRepository",
    "InMemorySagaExecutionRepository",
    "PostgreSqlSagaExecutionRepository",
    "SagaExecutionDatabaseOperationFactory",
    "SagaExecutionParts",
    "SagaExecutionRepository",
    "SagaExecutionSummary",
    "SagaExecutionCursor",
    "SagaExecutionLister",
    "SagaExecutionPurger",
    "SagaExecutionQuery",
]


__getattr__ = lazy_attributes(__name__, {"PostgreSqlSagaExecutionRepository": ".postgresql"})
