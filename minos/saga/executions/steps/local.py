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

# Bound once (see ``status``: before Python 3.12 reading an Enum member costs ~10 global reads; ~2% of a local saga).
_RUNNING, _ERRORED, _FINISHED = (
    SagaStepStatus.RunningOnExecute,
    SagaStepStatus.ErroredOnExecute,
    SagaStepStatus.Finished,
)


class LocalSagaStepExecution(SagaStepExecution, executes=LocalSagaStep):
    """Runs ``on_execute`` on a copy of the context; a failure leaves the context as it was. A finished step does
    not run again: executing it returns the context unchanged."""

    definition: LocalSagaStep
    """The local step it runs."""

    async def execute(self, context: Any, *args: Any, **kwargs: Any) -> Any:
        """Run the local callback (once: a finished step keeps its result) and return the new context."""
        if self.status is _FINISHED:
            return context
        options = RunOptions.from_keywords(kwargs)
        self.related_services.add(options.dependencies.service_name)
        self.status = _RUNNING
        try:
            context = await options.executor(LocalExecutor).exec(self.definition.on_execute_operation, context)
        except SagaFailedExecutionStepException:
            self.status = _ERRORED
            raise
        self.status = _FINISHED
        return context

    async def rollback(self, context: Any, *args: Any, **kwargs: Any) -> Any:
        """Run the ``on_failure`` callback once (a second rollback of the step is refused) and return the context."""
        options = RunOptions.from_keywords(kwargs)
        executor = options.executor(LocalExecutor)
        return await self._compensate_once(lambda: executor.exec(self.definition.on_failure_operation, context))
