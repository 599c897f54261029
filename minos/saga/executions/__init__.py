from .commit import TransactionCommitter
from .executors import Executor, LocalExecutor, RequestExecutor, ResponseExecutor
from .repositories import (
    DatabaseSagaExecutionRepository,
    InMemorySagaExecutionRepository,
    PostgreSqlSagaExecutionRepository,
    SagaExecutionDatabaseOperationFactory,
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
    "SagaStatus",
    "SagaStepExecution",
    "SagaStepStatus",
    "TransactionCommitter",
]
