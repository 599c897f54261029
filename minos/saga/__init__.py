"""Orchestration sagas for Minos microservices."""

from importlib.metadata import version as _distribution_version
from typing import TYPE_CHECKING, Any

__version__ = _distribution_version("minos-microservice-saga")

from .context import SagaContext
from .definitions import (
    ConditionalSagaStep,
    ElseThenAlternative,
    IfThenAlternative,
    LocalSagaStep,
    RemoteSagaStep,
    Saga,
    SagaOperation,
    SagaStep,
    saga_to_mermaid,
)
from .exceptions import (
    AlreadyCommittedException,
    AlreadyOnSagaException,
    EmptySagaException,
    EmptySagaStepException,
    MultipleElseThenException,
    MultipleOnErrorException,
    MultipleOnExecuteException,
    MultipleOnFailureException,
    MultipleOnSuccessException,
    SagaCallbackException,
    SagaCallbackReturnTypeException,
    SagaDefinitionFormatException,
    SagaException,
    SagaExecutionAlreadyExecutedException,
    SagaExecutionException,
    SagaExecutionFormatException,
    SagaExecutionNotFoundException,
    SagaFailedCommitCallbackException,
    SagaFailedExecutionException,
    SagaFailedExecutionStepException,
    SagaNotCommittedException,
    SagaNotDefinedException,
    SagaPausedExecutionStepException,
    SagaResponseException,
    SagaResponseMismatchException,
    SagaResponseStatusException,
    SagaRollbackExecutionException,
    SagaRollbackExecutionStepException,
    SagaStepException,
    SagaStepExecutionException,
    UndefinedOnExecuteException,
)
from .executions import (
    ConditionalSagaStepExecution,
    DatabaseSagaExecutionRepository,
    Executor,
    InMemorySagaExecutionRepository,
    LocalExecutor,
    LocalSagaStepExecution,
    RemoteSagaStepExecution,
    RequestExecutor,
    ResponseExecutor,
    SagaExecution,
    SagaExecutionCursor,
    SagaExecutionDatabaseOperationFactory,
    SagaExecutionLister,
    SagaExecutionPurger,
    SagaExecutionQuery,
    SagaExecutionRepository,
    SagaExecutionSummary,
    SagaStatus,
    SagaStepExecution,
    SagaStepStatus,
    TransactionCommitter,
    execution_to_mermaid,
)
from .manager import SagaManager
from .messages import SagaRequest, SagaResponse, SagaResponseStatus
from .middleware import transactional_command
from .services import SagaService
from .utils import get_service_name

if TYPE_CHECKING:
    from .executions.repositories.postgresql import PostgreSqlSagaExecutionRepository

__all__ = [
    "AlreadyCommittedException",
    "AlreadyOnSagaException",
    "ConditionalSagaStep",
    "ConditionalSagaStepExecution",
    "DatabaseSagaExecutionRepository",
    "ElseThenAlternative",
    "EmptySagaException",
    "EmptySagaStepException",
    "Executor",
    "get_service_name",
    "IfThenAlternative",
    "InMemorySagaExecutionRepository",
    "LocalExecutor",
    "LocalSagaStep",
    "LocalSagaStepExecution",
    "MultipleElseThenException",
    "MultipleOnErrorException",
    "MultipleOnExecuteException",
    "MultipleOnFailureException",
    "MultipleOnSuccessException",
    "PostgreSqlSagaExecutionRepository",
    "RemoteSagaStep",
    "RemoteSagaStepExecution",
    "RequestExecutor",
    "ResponseExecutor",
    "Saga",
    "saga_to_mermaid",
    "execution_to_mermaid",
    "SagaCallbackException",
    "SagaCallbackReturnTypeException",
    "SagaContext",
    "SagaDefinitionFormatException",
    "SagaException",
    "SagaExecution",
    "SagaExecutionAlreadyExecutedException",
    "SagaExecutionDatabaseOperationFactory",
    "SagaExecutionException",
    "SagaExecutionFormatException",
    "SagaExecutionNotFoundException",
    "SagaExecutionRepository",
    "SagaExecutionSummary",
    "SagaExecutionCursor",
    "SagaExecutionLister",
    "SagaExecutionPurger",
    "SagaExecutionQuery",
    "SagaFailedCommitCallbackException",
    "SagaFailedExecutionException",
    "SagaFailedExecutionStepException",
    "SagaManager",
    "SagaNotCommittedException",
    "SagaNotDefinedException",
    "SagaOperation",
    "SagaPausedExecutionStepException",
    "SagaRequest",
    "SagaResponse",
    "SagaResponseException",
    "SagaResponseMismatchException",
    "SagaResponseStatus",
    "SagaResponseStatusException",
    "SagaRollbackExecutionException",
    "SagaRollbackExecutionStepException",
    "SagaService",
    "SagaStatus",
    "SagaStep",
    "SagaStepException",
    "SagaStepExecution",
    "SagaStepExecutionException",
    "SagaStepStatus",
    "transactional_command",
    "TransactionCommitter",
    "UndefinedOnExecuteException",
]


def __getattr__(name: str) -> Any:
    # The PostgreSQL adapter loads aiopg and psycopg2: import it only when someone asks for it.
    if name == "PostgreSqlSagaExecutionRepository":
        from .executions.repositories.postgresql import PostgreSqlSagaExecutionRepository

        return PostgreSqlSagaExecutionRepository
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
