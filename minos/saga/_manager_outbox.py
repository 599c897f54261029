"""How ``SagaManager`` keeps an execution and its messages: each state is stored with the messages it sends
(an outbox in the document) before they are published, and what a run asked for travels as ``_RunSettings``."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Optional, cast

from minos.common import Inject
from minos.networks import BrokerClientPool, BrokerMessage, BrokerPublisher

from ._minos_internals import publish
from .clock import SagaClock
from .exceptions import SagaFailedExecutionException, SagaPausedExecutionStepException, SagaRollbackExecutionException
from .executions import SagaExecution, SagaExecutionPurger, SagaExecutionRepository, SagaStatus
from .executions._options import RunOptions
from .executions._outbox import CollectingPublisher, PendingMessage

logger = logging.getLogger("minos.saga.manager")  # logged under the module of SagaManager, as before


@dataclass(frozen=True)
class _RunSettings:
    """What a ``SagaManager.run()`` call asked for, read once from its keywords and handed to every step of it.

    ``broker_publisher`` publishes the stored messages (the manager's own when ``None``); ``broker_pool`` serves
    the commit (the manager's when ``None``)."""

    raise_on_error: bool = True
    autocommit: bool = True
    broker_publisher: Optional[BrokerPublisher] = None  # noqa: UP045
    broker_pool: Optional[BrokerClientPool] = None  # noqa: UP045

    def run_options(self, publisher: BrokerPublisher, broker_pool: BrokerClientPool) -> RunOptions:
        """The options of one run of the execution: its steps publish through ``publisher``, and its commit pauses
        on the reservations like a remote step (waiting for them would hold a broker handler task while the answers,
        one from this very service, need free ones)."""
        return RunOptions(broker_publisher=publisher, broker_pool=self.broker_pool or broker_pool, pause_on_commit=True)


class OutboxPublishing:
    """The part of ``SagaManager`` that stores executions with their messages and publishes them."""

    # Set by ``SagaManager.__init__``.
    storage: SagaExecutionRepository
    clock: SagaClock
    broker_pool: BrokerClientPool
    broker_publisher: BrokerPublisher | None
    keep_finished_for: timedelta | None
    reservation_timeout: float | None

    async def _apply(
        self, execution: SagaExecution, action: Callable[[RunOptions], Awaitable[None]], settings: _RunSettings
    ) -> None:
        """Run ``action`` on ``execution`` (under its lock) with a publisher that only collects; store the execution
        with the collected messages, then publish them and record that they were sent."""
        collected = CollectingPublisher()
        failure = None
        try:
            await action(settings.run_options(collected, self.broker_pool))
        except SagaPausedExecutionStepException:
            pass
        except (SagaFailedExecutionException, SagaRollbackExecutionException) as exc:
            failure = exc
        execution.prune_outbox()  # the reply (if any) answered what was awaited
        execution.outbox.extend(self._pending(execution, message) for message in collected.messages)
        await self._store_and_publish(execution, settings.broker_publisher)
        if failure is not None:
            if settings.raise_on_error:
                raise failure
            logger.warning("The %s saga execution failed: %r", execution.uuid, failure)

    @staticmethod
    def _pending(execution: SagaExecution, message: BrokerMessage) -> PendingMessage:
        """``message`` to store in the outbox; a compensation request whose reply is awaited carries its terms."""
        pending = PendingMessage(message)
        if (terms := execution.compensation_terms(message.identifier)) is not None:
            pending.compensation, pending.compensation_timeout = terms
        return pending

    async def _save(self, execution: SagaExecution, *, last: bool = False) -> None:
        """Store ``execution``, or delete it when it finished (unless finished ones are kept); a ``last`` store or
        delete, after which nothing under the lock waits for it, may travel with the unlock (see
        ``store_at_unlock``)."""
        if execution.status != SagaStatus.Finished or execution.outbox:
            await (self.storage.store_at_unlock if last else self.storage.store)(execution)
        elif self.keep_finished_for is None:
            await (self.storage.delete_at_unlock if last else self.storage.delete)(execution)
        else:
            await self._keep_finished(execution, self.keep_finished_for)

    async def _keep_finished(self, execution: SagaExecution, keep_for: timedelta) -> None:
        expired_before = self.clock.now() - keep_for
        await cast(SagaExecutionPurger, self.storage).purge(status=SagaStatus.Finished, updated_before=expired_before)
        await self.storage.store(execution)

    async def _store_and_publish(
        self, execution: SagaExecution, broker_publisher: BrokerPublisher | None = None
    ) -> int:
        """Store ``execution`` with the messages of its outbox never sent, then publish them and record that they
        were; returns how many were sent.

        A repository whose ``list_unsent`` finds nothing gains nothing from a document that says "stored, not sent
        yet": :meth:`recover` never asks it for one. Its messages are then recorded as sent in the one store written
        before they leave, and stored again as unsent only when one fails to leave."""
        unsent = [pending for pending in execution.outbox if not pending.sent]
        if not unsent or self.storage.finds_unsent:
            # Stored messages are published next, so their store must be written first; without any, it is the last.
            await self._save(execution, last=not unsent)
            return await self._publish(execution, broker_publisher)
        before = [(pending.sent_at, pending.attempts, pending.expires_at) for pending in unsent]
        outbox = list(execution.outbox)
        self._mark_sent(execution, unsent)
        await self._save(execution)
        sent = await self._send(execution, unsent, broker_publisher)
        if sent < len(unsent):
            for pending, (sent_at, attempts, expires_at) in zip(unsent[sent:], before[sent:]):
                pending.sent_at, pending.attempts, pending.expires_at = sent_at, attempts, expires_at  # as it was
            execution.outbox = outbox
            execution.prune_outbox()
            await self._save(execution, last=True)
        return sent

    async def _publish(self, execution: SagaExecution, broker_publisher: BrokerPublisher | None = None) -> int:
        """Publish the stored messages never confirmed sent, then store that they were; returns how many were sent.
        A message the broker refuses stays stored for :meth:`recover`."""
        unsent = [pending for pending in execution.outbox if not pending.sent]
        if not unsent:
            return 0
        sent = await self._send(execution, unsent, broker_publisher)
        if sent:
            self._mark_sent(execution, unsent[:sent])
            await self._save(execution, last=True)  # nothing is published after it
        return sent

    async def _send(
        self, execution: SagaExecution, messages: list[PendingMessage], broker_publisher: BrokerPublisher | None
    ) -> int:
        """Send ``messages`` in order until the broker refuses one; returns how many it took."""
        if broker_publisher is None:
            broker_publisher = self._broker_publisher()
        sent = 0
        try:
            for pending in messages:
                await publish(broker_publisher, pending.message)
                sent += 1
        except Exception as exc:
            logger.warning(
                "Could not publish a message of the %s saga execution (kept stored for recovery): %r",
                execution.uuid,
                exc,
            )
        return sent

    def _mark_sent(self, execution: SagaExecution, messages: list[PendingMessage]) -> None:
        """Record ``messages`` as sent now, and forget those whose answer is not awaited."""
        now = self.clock.now()
        for pending in messages:
            pending.mark_sent(now, self._reply_timeout(execution, pending))
        execution.prune_outbox()

    def _reply_timeout(self, execution: SagaExecution, pending: PendingMessage) -> float | None:
        """Seconds to wait for the answer to ``pending``: the manager's for a reservation of the commit, the
        execution's (its step's) for anything else."""
        if execution.reservations is not None and pending.identifier in execution.reservations:
            return self.reservation_timeout
        return execution.reply_timeout(pending)

    def _broker_publisher(self) -> BrokerPublisher:
        if self.broker_publisher is None:
            self.broker_publisher = Inject.resolve(BrokerPublisher)
        return self.broker_publisher
