"""Executes a local step."""

from __future__ import annotations

from typing import Any

from ...context import SagaContext
from ...definitions import LocalSagaStep
from ...exceptions import SagaFailedExecutionStepException, SagaRollbackExecutionStepException
from ...utils import get_service_name
from .._options import RunOptions
from ..executors import LocalExecutor
from ..status import SagaStepStatus
from .abc import SagaStepExecution

# The context and exception are importable from here too (with get_service_name), as they were in 0.7.0.
__all__ = ["LocalSagaStepExecution", "SagaContext", "SagaRollbackExecutionStepException", "get_service_name"]


class LocalSagaStepExecution(SagaStepExecution, executes=LocalSagaStep):
    """Runs ``on_execute`` on a copy of the context; a failure leaves the context as it was. A finished step does
    not run again: executing it returns the context unchanged."""

    definition: LocalSagaStep
    """The local step it runs."""

    async def execute(self, context: Any, *args: Any, **kwargs: Any) -> Any:
        """Run the local callback (once: a finished step keeps its result) and return the new context."""
        if self.status == SagaStepStatus.Finished:
            return context
        options = RunOptions.from_keywords(kwargs)
        self.related_services.add(options.dependencies.service_name)
        self.status = SagaStepStatus.RunningOnExecute
        try:
            context = await options.executor(LocalExecutor).exec(self.definition.on_execute_operation, context)
        except SagaFailedExecutionStepException:
            self.status = SagaStepStatus.ErroredOnExecute
            raise
        self.status = SagaStepStatus.Finished
        return context

    async def rollback(self, context: Any, *args: Any, **kwargs: Any) -> Any:
        """Run the ``on_failure`` callback once (a second rollback of the step is refused) and return the context."""
        options = RunOptions.from_keywords(kwargs)
        executor = options.executor(LocalExecutor)
        return await self._compensate_once(lambda: executor.exec(self.definition.on_failure_operation, context))
