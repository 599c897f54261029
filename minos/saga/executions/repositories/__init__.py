from .abc import SagaExecutionRepository
from .database import DatabaseSagaExecutionRepository, SagaExecutionDatabaseOperationFactory
from .listing import SagaExecutionSummary
from .memory import InMemorySagaExecutionRepository
from .postgresql import PostgreSqlSagaExecutionRepository

__all__ = [
    "DatabaseSagaExecutionRepository",
    "InMemorySagaExecutionRepository",
    "PostgreSqlSagaExecutionRepository",
    "SagaExecutionDatabaseOperationFactory",
    "SagaExecutionRepository",
    "SagaExecutionSummary",
]
