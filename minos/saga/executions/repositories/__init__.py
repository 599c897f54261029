from __future__ import annotations

from typing import TYPE_CHECKING, Any

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


def __getattr__(name: str) -> Any:
    # The PostgreSQL adapter loads aiopg and psycopg2: import it only when someone asks for it.
    if name == "PostgreSqlSagaExecutionRepository":
        from .postgresql import PostgreSqlSagaExecutionRepository

        return PostgreSqlSagaExecutionRepository
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
