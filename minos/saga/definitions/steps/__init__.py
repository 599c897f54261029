from .abc import SagaStep
from .conditional import ConditionalSagaStep, ElseThenAlternative, IfThenAlternative
from .local import LocalSagaStep
from .remote import RemoteSagaStep

__all__ = [
    "ConditionalSagaStep",
    "ElseThenAlternative",
    "IfThenAlternative",
    "LocalSagaStep",
    "RemoteSagaStep",
    "SagaStep",
]
