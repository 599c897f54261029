"""Executes a remote step: publish the request and pause, then apply the reply."""

from __future__ import annotations

from typing import Any, NoReturn
from uuid import UUID

from ..._random_uuids import uuid4
from ...context import SagaContext
from ...definitions import RemoteSagaStep, SagaOperation
from ...exceptions import (
    SagaFailedExecutionStepException,
    SagaPausedExecutionStepException,
    SagaResponseException,
    SagaRollbackExecutionStepException,
)
from ...messages import SagaResponse, SagaResponseStatus
from ...utils import get_service_name
from .._options import RunOptions
from ..executors import RequestExecutor, ResponseExecutor
from ..status import SagaStepStatus
from .abc import SagaStepExecution

# The exception is importable from here too (with get_service_name), as it was in 0.7.0.
__all__ = ["RemoteSagaStepExecution", "SagaRollbackExecutionStepException", "get_service_name"]

# Read on every request and reply, bound once (see ``status`` on why).
_RUNNING, _PAUSED, _FINISHED = (
    SagaStepStatus.RunningOnExecute,
    SagaStepStatus.PausedByOnExecute,
    SagaStepStatus.Finished,
)
_ON_SUCCESS = (SagaStepStatus.RunningOnSuccess, SagaStepStatus.ErroredOnSuccess)
_ON_ERROR = (SagaStepStatus.RunningOnError, SagaStepStatus.ErroredOnError)
_SYSTEM_ERROR = SagaResponseStatus.SYSTEM_ERROR


class RemoteSagaStepExecution(SagaStepExecution, executes=RemoteSagaStep):
    """A 200 reply runs ``on_success``, a 400 runs ``on_error`` and a 500 fails the step. When a reply callback
    fails, the request it answered is compensated (``on_failure``) before the step fails.

    ``request_id`` is the identifier of the request message the step is waiting on; a reply carrying another one is
    not for it. It is kept out of the step's raw document (the execution stores it, see ``SagaExecution.raw``).
    ``compensation_id`` is the identifier of the compensating request its rollback built in this process (the
    manager stores it in the execution's outbox when the step declares a timeout or a retry policy).
    """

    definition: RemoteSagaStep
    """The remote step it runs."""

    def __init__(self, *args: Any, request_id: UUID | str | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.request_id = request_id if request_id is None or isinstance(request_id, UUID) else UUID(str(request_id))
        """The identifier of the request it sent (``None`` before it is sent, or in a document of 0.7.0)."""
        self.compensation_id: UUID | None = None
        """The identifier of its compensating request, once sent."""

    async def execute(
        self, context: SagaContext, response: SagaResponse | None = None, *args: Any, **kwargs: Any
    ) -> SagaContext:
        """Send the request (which pauses the step), or, given the reply, run ``on_success``/``on_error``."""
        options = RunOptions.from_keywords(kwargs)
        if response is None:
            await self._send_request(context, options)  # always raises: paused or failed
        return await self._apply_response(context, response, options)

    async def _send_request(self, context: SagaContext, options: RunOptions) -> NoReturn:
        self.related_services.add(options.dependencies.service_name)
        self.status = _RUNNING
        request_id = uuid4()
        try:
            await self._publish(self.definition.on_execute_operation, context, request_id, options)
        except SagaFailedExecutionStepException:
            self.status = SagaStepStatus.ErroredOnExecute
            raise
        self.request_id = request_id
        self.status = _PAUSED
        raise SagaPausedExecutionStepException()

    async def _apply_response(self, context: SagaContext, response: SagaResponse, options: RunOptions) -> SagaContext:
        self.related_services |= response.related_services
        if response.status == _SYSTEM_ERROR:
            self.status = SagaStepStatus.ErroredByOnExecute
            failure = SagaResponseException(f"Failed with {int(response.status)} status: {await response.content()}")
            raise SagaFailedExecutionStepException(failure)

        if response.ok:
            operation, (running, errored) = self.definition.on_success_operation, _ON_SUCCESS
        else:
            operation, (running, errored) = self.definition.on_error_operation, _ON_ERROR
        self.status = running
        try:
            executor = options.executor(ResponseExecutor)
            context = await executor.exec(operation, context, response)
        except SagaFailedExecutionStepException:
            self.status = errored
            await self.rollback(context, options=options)
            raise
        self.status = _FINISHED
        return context

    async def rollback(self, context: SagaContext, *args: Any, **kwargs: Any) -> SagaContext:
        """Send the compensating ``on_failure`` request once (a second rollback of the step is refused)."""
        options = RunOptions.from_keywords(kwargs)
        self.compensation_id = request_id = uuid4()
        return await self._compensate_once(
            lambda: self._publish(self.definition.on_failure_operation, context, request_id, options)
        )

    @staticmethod
    async def _publish(
        operation: SagaOperation | None, context: SagaContext, request_id: UUID, options: RunOptions
    ) -> SagaContext:
        if operation is None:
            return context
        executor = RequestExecutor(
            options.execution_uuid,
            user=options.user,
            broker_publisher=options.publisher,
            request_id=request_id,
            options=options,
        )
        return await executor.exec(operation, context)

    def awaits(self, response: SagaResponse) -> bool:
        """Whether ``response`` answers this step's request (a reply without identifiers is accepted)."""
        return self.request_id is None or response.request_id is None or response.request_id == self.request_id
