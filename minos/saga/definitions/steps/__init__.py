"""The step kinds of a saga definition: local, remote and conditional steps, and their base class."""

from __future__ import annotations

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
