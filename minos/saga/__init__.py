"""Orchestration sagas for Minos microservices."""

__version__ = "0.7.1"

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
    SagaException,
    SagaExecutionAlreadyExecutedException,
    SagaExecutionException,
    SagaExecutionNotFoundException,
    SagaFailedCommitCallbackException,
    SagaFailedExecutionException,
    SagaFailedExecutionStepException,
    SagaNotCommittedException,
    SagaNotDefinedException,
    SagaPausedExecutionStepException,
    SagaResponseException,
    SagaRollbackExecutionException,
    SagaRollbackExecutionStepException,
    SagaStepException,
    SagaStepExecutionException,
    UndefinedOnExecuteException,
)
from .messages import SagaRequest, SagaResponse, SagaResponseStatus
from .utils import get_service_name
