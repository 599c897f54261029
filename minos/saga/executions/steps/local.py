"""Executes a local step."""

from __future__ import annotations

from ...context import SagaContext
from ...definitions import LocalSagaStep
from ...exceptions import SagaFailedExecutionStepException
from ..executors import LocalExecutor
from ..status import SagaStepStatus
from .abc import SagaStepExecution


class LocalSagaStepExecution(SagaStepExecution):
    """Runs ``on_execute`` on a copy of the context; a failure leaves the context as it was."""

    definition: LocalSagaStep

    async def execute(self, context: SagaContext, *args, **kwargs) -> SagaContext:
        self.status = SagaStepStatus.RunningOnExecute
        try:
            context = await LocalExecutor(kwargs.get("execution_uuid")).exec(
                self.definition.on_execute_operation, context
            )
        except Exception as exc:
            self.status = SagaStepStatus.ErroredOnExecute
            raise SagaFailedExecutionStepException(exc) from exc
        self.status = SagaStepStatus.Finished
        return context

    async def rollback(self, context: SagaContext, *args, **kwargs) -> SagaContext:
        executor = LocalExecutor(kwargs.get("execution_uuid"))
        return await self._compensate_once(lambda: executor.exec(self.definition.on_failure_operation, context))
