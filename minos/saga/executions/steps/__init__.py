"""The execution of each step kind of a definition: local, remote and conditional step executions."""

from __future__ import annotations

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
