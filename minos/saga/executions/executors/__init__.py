"""Executors: run a step's callback (local, request or reply) against the execution's context."""

from __future__ import annotations

from .abc import Executor
from .local import LocalExecutor
from .request import RequestExecutor
from .response import ResponseExecutor

__all__ = ["Executor", "LocalExecutor", "RequestExecutor", "ResponseExecutor"]
