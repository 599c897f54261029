"""How ``SagaManager`` runs an execution: starting or resuming it under its lock, applying replies (stored or
waited for in memory), and reporting the services it involved."""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import partial
from typing import Union
from uuid import UUID

from minos.networks import REQUEST_HEADERS_CONTEXT_VAR, REQUEST_USER_CONTEXT_VAR, BrokerClient

from ._header_lists import add_related_services
from ._manager_expiry import Expiry
from ._manager_outbox import _RunSettings
from .context import SagaContext
from .definitions import Saga
from .definitions.retries import as_seconds
from .exceptions import SagaFailedCommitCallbackException, SagaFailedExecutionException, SagaResponseMismatchException
from .executions import SagaExecution, SagaStatus
from .executions._options import RunOptions
from .executions._outbox import PendingMessage
from .interceptors import active_interceptors, intercept_run
from .messages import SagaResponse, SagaResponseStatus

logger = logging.getLogger("minos.saga.manager")  # logged under the module of SagaManager, as before


class Running(Expiry):
    """The part of ``SagaManager`` that advances executions with their replies."""

    async def _start_or_resume(
        self,
        definition: Saga | None,
        context: SagaContext | None,
        response: SagaResponse | None,
        user: UUID | None,
        run_timeout: Union[float, timedelta, None],
        settings: _RunSettings,
    ) -> SagaExecution:
        if response is not None:
            return await self._resume(response, settings)
        assert definition is not None
        execution = SagaExecution.from_definition(definition, context=context, user=self._user(user))
        limits = [definition.deadline]
        if run_timeout is not None:
            limits.append(as_seconds(run_timeout, "timeout"))
        if seconds := min(filter(None, limits), default=None):
            execution.deadline_at = self.clock.now() + timedelta(seconds=seconds)
        async with self.storage.lock_new(execution.uuid):
            await self._advance(execution, None, settings)
        return execution

    async def _run_waiting_replies(
        self, start: Callable[[_RunSettings], Awaitable[SagaExecution]], settings: _RunSettings
    ) -> SagaExecution:
        """Run and wait in memory for each reply on a broker client of this process. No execution lock (so no
        pooled connection) is held while waiting; each reply is then applied like a stored one (lock, fresh read).
        A wait that expires is handled as :meth:`recover` handles it (re-send, or fail and compensate)."""
        async with self.broker_pool.acquire() as broker:  # sets REQUEST_REPLY_TOPIC_CONTEXT_VAR to its topic
            execution = await start(settings)
            while execution.status == SagaStatus.Paused:
                try:
                    response = await self._wait_reply_in_time(broker, execution)
                except Exception as exc:
                    return await self._fail_waiting(execution, exc, settings)
                if response is not None:
                    execution = await self._resume(response, settings)
                    continue
                _, expired = await self._expire_due(
                    execution.uuid, self.clock.now(), raise_on_error=settings.raise_on_error
                )
                if expired is None:
                    break  # deleted meanwhile: it finished
                execution = expired
        return execution

    async def _wait_reply_in_time(self, broker: BrokerClient, execution: SagaExecution) -> SagaResponse | None:
        """The reply to ``execution``, or ``None`` once its wake time (see ``SagaExecution.wake_at``) comes first."""
        if (wake_at := execution.wake_at) is None:
            return await self._wait_reply(broker, execution)
        receive = asyncio.ensure_future(self._wait_reply(broker, execution))
        timer = asyncio.ensure_future(self.clock.sleep((wake_at - self.clock.now()).total_seconds()))
        try:
            done, _ = await asyncio.wait({receive, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            if not receive.done():
                receive.cancel()
        return receive.result() if receive in done else None

    async def _fail_waiting(self, execution: SagaExecution, exc: Exception, settings: _RunSettings) -> SagaExecution:
        """The reply cannot be received: as in 0.7.0 the execution is errored and its transaction rejected."""
        async with self.storage.lock(execution.uuid):

            async def reject(options: RunOptions) -> None:
                execution.status = SagaStatus.Errored
                try:
                    await execution.reject(options=options)
                except SagaFailedCommitCallbackException as reject_failure:
                    logger.warning(
                        "Could not reject the %s execution's transaction: %r", execution.uuid, reject_failure
                    )
                raise SagaFailedExecutionException(exc) from exc

            with active_interceptors(self.interceptors):
                await self._apply(execution, reject, settings)
        return execution

    async def _resume(self, response: SagaResponse, settings: _RunSettings) -> SagaExecution:
        if response.uuid is None:
            raise SagaResponseMismatchException("The response does not name the execution it answers.")
        async with self.storage.lock_for_reply(response.uuid, response.request_id):
            execution = await self.storage.load(response.uuid)
            if (compensation := execution.awaited_compensation(response)) is not None:
                await self._answer_compensation(execution, compensation, response)
                return execution
            if not execution.awaits(response):
                logger.warning(
                    "Ignored a reply for the %s execution (status %s): it answers a step that is not the paused one "
                    "(a duplicated or late reply).",
                    execution.uuid,
                    execution.status.raw,
                )
                return execution
            if self._defer_retryable(execution, response):
                await self.storage.store(execution)
                return execution
            await self._advance(execution, response, settings)
        return execution

    async def _answer_compensation(
        self, execution: SagaExecution, pending: PendingMessage, response: SagaResponse
    ) -> None:
        """A reply to a compensation request (under the execution's lock): a success acknowledges it; any other
        status ends its wait now, so :meth:`recover` sends it again after the backoff, or stalls the execution when
        no attempt remains."""
        if response.status == SagaResponseStatus.SUCCESS:
            execution.outbox.remove(pending)
            logger.info(
                "The %s saga execution's compensation %s was acknowledged (attempt %s).",
                execution.uuid,
                pending.identifier,
                pending.attempts,
            )
        else:
            pending.expires_at = self.clock.now()
            logger.warning(
                "The %s saga execution's compensation %s failed with a %s reply (attempt %s).",
                execution.uuid,
                pending.identifier,
                int(response.status),
                pending.attempts,
            )
        await self.storage.store(execution)

    def _defer_retryable(self, execution: SagaExecution, response: SagaResponse) -> bool:
        """A reply whose status the step's policy retries, while attempts remain: instead of applying it, end the
        wait now, so :meth:`recover` sends the request again after the policy's backoff."""
        pending, policy = execution.awaited_message, execution.awaited_policy
        if pending is None or policy is None or int(response.status) not in policy.retryable_statuses:
            return False
        if pending.attempts >= policy.maximum_attempts:
            return False
        pending.expires_at = self.clock.now()
        logger.info(
            "The %s saga execution got a retryable %s reply to attempt %s of %s: it will send the request again.",
            execution.uuid,
            int(response.status),
            pending.attempts,
            policy.maximum_attempts,
        )
        return True

    @staticmethod
    def _user(user: UUID | None) -> UUID | None:
        request_user = REQUEST_USER_CONTEXT_VAR.get()
        if request_user is None:
            return user
        if user is not None:
            warnings.warn(
                f"The {user} user is ignored: the request's user ({request_user}) runs the saga.",
                RuntimeWarning,
                stacklevel=3,
            )
        return request_user

    async def _advance(self, execution: SagaExecution, response: SagaResponse | None, settings: _RunSettings) -> None:
        """Run ``execution`` (under its lock) with ``response`` until it pauses, finishes or fails."""

        async def execute(options: RunOptions) -> None:
            await execution.execute(response, autocommit=settings.autocommit, options=options)

        with active_interceptors(self.interceptors):
            await intercept_run(execution, response, partial(self._apply, execution, execute, settings))

    @staticmethod
    async def _wait_reply(broker: BrokerClient, execution: SagaExecution) -> SagaResponse:
        while True:
            response = SagaResponse.from_message(await broker.receive())
            if response.uuid == execution.uuid and execution.awaits(response):
                return response
            logger.warning("Ignored a reply on %r that does not answer the %s execution.", broker.topic, execution.uuid)

    @staticmethod
    def _report_related_services(execution: SagaExecution) -> None:
        headers = REQUEST_HEADERS_CONTEXT_VAR.get()
        if headers is None:
            return
        steps = [*execution.executed_steps, *filter(None, [execution.paused_step])]
        add_related_services(headers, (service for step in steps for service in step.related_services))
