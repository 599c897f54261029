"""Saga definitions: the ``Saga`` builder, its step kinds and operations, retry policies and diagrams."""

from __future__ import annotations

from .diagrams import saga_to_mermaid
from .operations import SagaOperation
from .retries import RetryPolicy
from .saga import Saga
from .steps import (
    ConditionalSagaStep,
    ElseThenAlternative,
    IfThenAlternative,
    LocalSagaStep,
    RemoteSagaStep,
    SagaStep,
)
from .types import ConditionCallback, LocalCallback, RequestCallBack, ResponseCallBack

__all__ = [
    "ConditionCallback",
    "ConditionalSagaStep",
    "ElseThenAlternative",
    "IfThenAlternative",
    "LocalCallback",
    "LocalSagaStep",
    "RemoteSagaStep",
    "RequestCallBack",
    "RetryPolicy",
    "ResponseCallBack",
    "Saga",
    "SagaOperation",
    "SagaStep",
    "saga_to_mermaid",
]
