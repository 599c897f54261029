"""Executes a conditional step as an inner saga execution sharing the outer uuid and user."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Union, cast
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
from .._options import RunOptions
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
    """The conditional step it runs."""

    def __init__(self, *args: Any, inner: Union[SagaExecution, dict[str, Any]] | None = None, **kwargs: Any):
        from ..saga import SagaExecution

        super().__init__(*args, **kwargs)
        if isinstance(inner, dict):
            inner = SagaExecution.from_raw(inner)
        self.inner = inner
        """The execution of the branch chosen (``None`` before the choice, or when no branch runs)."""

    async def execute(self, context: SagaContext, *args: Any, **kwargs: Any) -> SagaContext:
        """Pick the first alternative whose condition holds (else the fallback) and run its inner saga."""
        from ..saga import SagaExecution

        response: SagaResponse | None = kwargs.get("response")
        options = RunOptions.from_keywords(kwargs)
        self.related_services.add(options.dependencies.service_name)
        if self.inner is None:
            definition = await self._select(context, options)
            if definition is None:
                self.status = SagaStepStatus.Finished
                return context
            # A step run by itself (no execution uuid) runs its inner saga without one too.
            uuid = cast(UUID, options.execution_uuid)
            self.inner = SagaExecution(definition, uuid, context, user=options.user)

        self.status = SagaStepStatus.RunningOnExecute
        try:
            context = await self.inner.execute(response, autocommit=False, options=options)
        except SagaPausedExecutionStepException:
            self.status = SagaStepStatus.PausedByOnExecute
            raise
        except SagaFailedExecutionException as exc:
            self.status = SagaStepStatus.ErroredByOnExecute  # the inner saga failed, as 0.7.0 reports it
            raise SagaFailedExecutionStepException(exc.exception) from exc
        self.status = SagaStepStatus.Finished
        return context

    async def _select(self, context: SagaContext, options: RunOptions) -> Saga | None:
        executor = Executor(options.execution_uuid, options=options)
        for alternative in self.definition.if_then_alternatives:
            if await executor.exec(alternative.condition, context.copy()):
                return alternative.saga
        if self.definition.else_then_alternative is not None:
            return self.definition.else_then_alternative.saga
        return None

    async def rollback(self, context: SagaContext, *args: Any, **kwargs: Any) -> SagaContext:
        """Roll back the inner execution, when an alternative ran."""
        options = RunOptions.from_keywords(kwargs)
        return await self._compensate_once(lambda: self._rollback_inner(context, options))

    async def _rollback_inner(self, context: SagaContext, options: RunOptions) -> SagaContext:
        if self.inner is not None:
            await self.inner.rollback(autoreject=False, options=options)  # the outer execution rejects for both
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
