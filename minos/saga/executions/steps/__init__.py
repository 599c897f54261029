from .abc import SagaStepExecution
from .conditional import ConditionalSagaStepExecution
from .local import LocalSagaStepExecution
from .remote import RemoteSagaStepExecution

__all__ = [
    "ConditionalSagaStepExecution",
    "LocalSagaStepExecution",
    "RemoteSagaStepExecution",
    "SagaStepExecution",
]
