from .factories import SagaExecutionDatabaseOperationFactory
from .impl import DatabaseSagaExecutionRepository

__all__ = ["DatabaseSagaExecutionRepository", "SagaExecutionDatabaseOperationFactory"]
