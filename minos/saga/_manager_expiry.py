"""How ``SagaManager`` handles waits that expired: it sends a request or a compensation again while its policy
allows, or fails the step and compensates (also what an operator's ``compensate`` and ``retry`` do)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Optional, cast
from uuid import UUID

from ._manager_outbox import OutboxPublishing, _RunSettings
from .definitions.retries import RetryPolicy
from .exceptions import (
    SagaExecutionNotFoundException,
    SagaFailedCommitCallbackException,
    SagaFailedExecutionException,
    SagaStepTimeoutException,
)
from .executions import SagaExecution, SagaStatus
from .executions._options import RunOptions
from .executions._outbox import PendingMessage
from .interceptors import SagaInterceptor, active_interceptors

logger = logging.getLogger("minos.saga.manager")  # logged under the module of SagaManager, as before


class Expiry(OutboxPublishing):
    """The part of ``SagaManager`` that sends again, or gives up and compensates, when a wait ends."""

    interceptors: tuple[SagaInterceptor, ...]  # set by ``SagaManager.__init__``

    async def _expire_waits(self) -> int:
        """Handle the paused executions whose wait expired or whose deadline passed: send the awaited request again
        (same identifier) while the step's policy allows more attempts, otherwise fail the step with
        ``SagaStepTimeoutException`` and compensate. Each under its execution's lock, after a fresh read, so an
        expiry seen by several replicas is handled once. Returns how many requests were sent again."""
        now = self.clock.now()
        resent = 0
        for uuid in await self.storage.list_due(now):
            resent += (await self._expire_due(uuid, now, raise_on_error=False))[0]
        return resent

    async def _expire_due(
        self, uuid: UUID, now: datetime, *, raise_on_error: bool
    ) -> tuple[int, Optional[SagaExecution]]:  # noqa: UP045
        """Handle the execution's expired wait (under its lock, after a fresh read); returns how many requests were
        sent again and the execution as stored afterwards (``None``: no longer stored)."""
        async with self.storage.lock(uuid):
            try:
                execution = await self.storage.load(uuid)
            except SagaExecutionNotFoundException:
                return 0, None
            if (wake_at := execution.wake_at) is None or wake_at > now:
                return 0, execution  # answered, or already handled by another replica
            return await self._expire(execution, now, raise_on_error=raise_on_error), execution

    async def _expire(self, execution: SagaExecution, now: datetime, *, raise_on_error: bool) -> int:
        if execution.status != SagaStatus.Paused:
            return await self._expire_compensations(execution, now)
        pending, policy = execution.awaited_message, execution.awaited_policy
        if execution.reservations is not None:  # only the reservations' waits wake a commit (``wake_at``)
            failure: SagaFailedExecutionException = SagaFailedCommitCallbackException(
                TimeoutError(f"The {execution.uuid} saga execution's reservations were not all answered in time.")
            )
        elif execution.deadline_at is not None and execution.deadline_at <= now:
            failure = SagaStepTimeoutException(f"The {execution.uuid} saga execution passed its deadline.")
        elif pending is not None and policy is not None and pending.attempts < policy.maximum_attempts:
            _send_again(execution, pending, policy, "request (no reply in time)")
            return await self._store_and_publish(execution)
        else:
            attempts = 0 if pending is None else pending.attempts
            failure = SagaStepTimeoutException(
                f"No reply for the {execution.uuid} saga execution's request after {attempts} attempt(s)."
            )
        logger.warning("%s Compensating it.", failure)
        await self._undo_in_flight(execution, failure, raise_on_error=raise_on_error)
        return 0

    async def _expire_compensations(self, execution: SagaExecution, now: datetime) -> int:
        """Send again the compensation requests whose wait (and backoff) ended while attempts remain; when one ran out
        of attempts, mark the execution's compensations stalled (an operator's :meth:`retry` sends them again)."""
        due = [
            pending
            for pending in execution.outbox
            if pending.compensation is not None
            and pending.expires_at is not None
            and pending.expires_at + timedelta(seconds=pending.compensation.interval(pending.attempts)) <= now
        ]
        for pending in due:
            policy = cast(RetryPolicy, pending.compensation)
            if pending.attempts >= policy.maximum_attempts:
                execution.compensations_stalled = True
                logger.error(
                    "The %s saga execution's compensation %s failed after %s attempt(s): it waits for an operator.",
                    execution.uuid,
                    pending.identifier,
                    pending.attempts,
                )
                continue
            _send_again(execution, pending, policy, "compensation")
        return await self._store_and_publish(execution)

    async def _undo_in_flight(
        self, execution: SagaExecution, failure: SagaFailedExecutionException | None, *, raise_on_error: bool
    ) -> None:
        """Compensate the in-flight step (its participant may have acted on the request) and every executed one,
        newest first, and reject the transaction; the execution ends errored, because of ``failure`` if given."""

        async def undo(options: RunOptions) -> None:
            if execution.paused_step is not None:
                execution.executed_steps.append(execution.paused_step)  # in flight: compensate it too
            execution.paused_step = None
            execution.reservations = None
            execution.status = SagaStatus.Errored
            await execution.rollback(autoreject=True, options=options)
            if failure is not None:
                raise failure

        with active_interceptors(self.interceptors):
            await self._apply(execution, undo, _RunSettings(raise_on_error=raise_on_error))

    async def _retry_compensations(self, execution: SagaExecution) -> None:
        """Send the unacknowledged compensation requests again (same identifiers), each with its attempts anew."""
        execution.compensations_stalled = False
        for pending in execution.outbox:
            if pending.compensation is not None:
                pending.sent_at, pending.attempts, pending.expires_at = None, 0, None
        await self._store_and_publish(execution)


def _send_again(execution: SagaExecution, pending: PendingMessage, policy: RetryPolicy, what: str) -> None:
    """Mark ``pending`` unsent, so the next publish sends it again with its identity. Stored as unsent before it is
    sent: a crash in between leaves it to the next recovery."""
    logger.info(
        "Sending the %s saga execution's %s %s again (attempt %s of %s).",
        execution.uuid,
        what,
        pending.identifier,
        pending.attempts + 1,
        policy.maximum_attempts,
    )
    pending.sent_at = None
