"""Running sagas: executions and their steps, statuses, executors, storage of executions and the
two-phase commit of their transactions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes
from .commit import TransactionCommitter
from .decisions import OperatorDecision
from .diagram import execution_to_mermaid
from .executors import Executor, LocalExecutor, RequestExecutor, ResponseExecutor
from .repositories import (
    DatabaseSagaExecutionRepository,
    IncrementalSagaExecutionRepository,
    InMemorySagaExecutionRepository,
    SagaExecutionCursor,
    SagaExecutionDatabaseOperationFactory,
    SagaExecutionLister,
    SagaExecutionParts,
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
    "IncrementalSagaExecutionRepository",
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
    "SagaExecutionParts",
    "SagaExecutionPurger",
    "SagaExecutionQuery",
    "SagaStatus",
    "SagaStepExecution",
    "SagaStepStatus",
    "OperatorDecision",
    "TransactionCommitter",
    "execution_to_mermaid",
]


__getattr__ = lazy_attributes(__name__, {"PostgreSqlSagaExecutionRepository": ".repositories.postgresql"})
