from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .commit import TransactionCommitter
from .decisions import OperatorDecision
from .diagram import execution_to_mermaid
from .executors import Executor, LocalExecutor, RequestExecutor, ResponseExecutor
from .repositories import (
    DatabaseSagaExecutionRepository,
    InMemorySagaExecutionRepository,
    SagaExecutionCursor,
    SagaExecutionDatabaseOperationFactory,
    SagaExecutionLister,
    SagaExecutionPurger,
    SagaExecutionQuery,
    SagaExecutionRepository,
    SagaExecutionSummary,
)
from .saga import SagaExecution
from .status import SagaStatus, SagaStepStatus
from .steps import (
    ConditionalSagaStepExecution,
    LocalSagaStepExecution,
    RemoteSagaStepExecution,
    SagaStepExecution,
)

if TYPE_CHECKING:
    from .repositories.postgresql import PostgreSqlSagaExecutionRepository

__all__ = [
    "ConditionalSagaStepExecution",
    "DatabaseSagaExecutionRepository",
    "Executor",
    "InMemorySagaExecutionRepository",
    "LocalExecutor",
    "LocalSagaStepExecution",
    "PostgreSqlSagaExecutionRepository",
    "RemoteSagaStepExecution",
    "RequestExecutor",
    "ResponseExecutor",
    "SagaExecution",
    "SagaExecutionDatabaseOperationFactory",
    "SagaExecutionRepository",
    "SagaExecutionSummary",
    "SagaExecutionCursor",
    "SagaExecutionLister",
    "SagaExecutionPurger",
    "SagaExecutionQuery",
    "SagaStatus",
    "SagaStepExecution",
    "SagaStepStatus",
    "OperatorDecision",
    "TransactionCommitter",
    "execution_to_mermaid",
]


def __getattr__(name: str) -> Any:
    # The PostgreSQL adapter loads aiopg and psycopg2: import it only when someone asks for it.
    if name == "PostgreSqlSagaExecutionRepository":
        from .repositories.postgresql import PostgreSqlSagaExecutionRepository

        return PostgreSqlSagaExecutionRepository
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
