"""Executes a conditional step as an inner saga execution sharing the outer uuid and user."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Union
from uuid import UUID

from ...context import SagaContext
from ...definitions import ConditionalSagaStep, Saga
from ...exceptions import (
    SagaExecutionAlreadyExecutedException,
    SagaFailedExecutionException,
    SagaFailedExecutionStepException,
    SagaPausedExecutionStepException,
    SagaRollbackExecutionStepException,
)
from ...utils import get_service_name
from .._dependencies import dependencies
from ..executors import Executor
from ..status import SagaStepStatus
from .abc import SagaStepExecution

# The exceptions are importable from here too (with get_service_name), as they were in 0.7.0.
__all__ = [
    "ConditionalSagaStepExecution",
    "SagaExecutionAlreadyExecutedException",
    "SagaRollbackExecutionStepException",
    "get_service_name",
]

if TYPE_CHECKING:
    from ...messages import SagaResponse
    from ..saga import SagaExecution


class ConditionalSagaStepExecution(SagaStepExecution, executes=ConditionalSagaStep):
    """Picks the first ``if_then`` alternative whose condition holds (else ``else_then``) and runs its saga as
    ``inner``; pauses, resumes and compensates through it. With no alternative taken the step just finishes."""

    definition: ConditionalSagaStep

    def __init__(self, *args: Any, inner: Union[SagaExecution, dict[str, Any]] | None = None, **kwargs: Any):
        from ..saga import SagaExecution

        super().__init__(*args, **kwargs)
        if isinstance(inner, dict):
            inner = SagaExecution.from_raw(inner)
        self.inner = inner

    async def execute(self, context: SagaContext, *args: Any, **kwargs: Any) -> SagaContext:
        """Pick the first alternative whose condition holds (else the fallback) and run its inner saga."""
        from ..saga import SagaExecution

        response: SagaResponse | None = kwargs.pop("response", None)
        execution_uuid: UUID = kwargs.pop("execution_uuid", None)
        user: UUID | None = kwargs.pop("user", None)
        self.related_services.add(dependencies().service_name)
        if self.inner is None:
            definition = await self._select(context, execution_uuid)
            if definition is None:
                self.status = SagaStepStatus.Finished
                return context
            self.inner = SagaExecution(definition, execution_uuid, context, user=user)

        self.status = SagaStepStatus.RunningOnExecute
        try:
            context = await self.inner.execute(response, autocommit=False, **kwargs)
        except SagaPausedExecutionStepException:
            self.status = SagaStepStatus.PausedByOnExecute
            raise
        except SagaFailedExecutionException as exc:
            self.status = SagaStepStatus.ErroredByOnExecute  # the inner saga failed, as 0.7.0 reports it
            raise SagaFailedExecutionStepException(exc.exception) from exc
        self.status = SagaStepStatus.Finished
        return context

    async def _select(self, context: SagaContext, execution_uuid: UUID) -> Saga | None:
        executor = Executor(execution_uuid)
        for alternative in self.definition.if_then_alternatives:
            if await executor.exec(alternative.condition, context.copy()):
                return alternative.saga
        if self.definition.else_then_alternative is not None:
            return self.definition.else_then_alternative.saga
        return None

    async def rollback(self, context: SagaContext, *args: Any, **kwargs: Any) -> SagaContext:
        """Roll back the inner execution, when an alternative ran."""
        return await self._compensate_once(lambda: self._rollback_inner(context, **kwargs))

    async def _rollback_inner(self, context: SagaContext, **kwargs: Any) -> SagaContext:
        if self.inner is not None:
            await self.inner.rollback(autoreject=False, **kwargs)  # the outer execution rejects for both
        return context

    def awaits(self, response: SagaResponse) -> bool:
        """Whether ``response`` answers the step the inner execution is paused on."""
        return self.inner is not None and self.inner.awaits(response)

    def __iter__(self) -> Iterator[Any]:
        yield from super().__iter__()
        yield self.inner

    @property
    def raw(self) -> dict[str, Any]:
        """The step execution as a raw document, its inner execution included."""
        return super().raw | {"inner": None if self.inner is None else self.inner.core_raw}
