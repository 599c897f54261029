from .abc import SagaExecutionRepository
from .database import DatabaseSagaExecutionRepository, SagaExecutionDatabaseOperationFactory
from .listing import SagaExecutionSummary
from .memory import InMemorySagaExecutionRepository

__all__ = [
    "DatabaseSagaExecutionRepository",
    "InMemorySagaExecutionRepository",
    "SagaExecutionDatabaseOperationFactory",
    "SagaExecutionRepository",
    "SagaExecutionSummary",
]
