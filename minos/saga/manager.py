"""The entry point services use to run sagas and to resume them with replies."""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Optional, Union, cast
from uuid import UUID

from minos.common import (
    Config,
    Inject,
    MinosConfigException,
    NotProvidedException,
    PoolFactory,
    SetupMixin,
    import_module,
)
from minos.networks import (
    REQUEST_HEADERS_CONTEXT_VAR,
    REQUEST_USER_CONTEXT_VAR,
    BrokerClient,
    BrokerClientPool,
    BrokerMessage,
    BrokerPublisher,
)

from ._broker_pool import resolve_broker_pool
from ._header_lists import add_related_services
from ._injectable import injectable
from ._minos_internals import publish
from .clock import SagaClock, SystemClock
from .context import SagaContext
from .definitions import Saga
from .definitions.retries import RetryPolicy, as_seconds
from .exceptions import (
    SagaExecutionNotFoundException,
    SagaFailedCommitCallbackException,
    SagaFailedExecutionException,
    SagaOperatorActionException,
    SagaPausedExecutionStepException,
    SagaResponseMismatchException,
    SagaRollbackExecutionException,
    SagaStepTimeoutException,
)
from .executions import (
    DatabaseSagaExecutionRepository,
    OperatorDecision,
    SagaExecution,
    SagaExecutionPurger,
    SagaExecutionRepository,
    SagaStatus,
)
from .executions._options import RunOptions
from .executions._outbox import CollectingPublisher, PendingMessage
from .interceptors import SagaInterceptor, active_interceptors, intercept_run
from .messages import SagaResponse, SagaResponseStatus

logger = logging.getLogger(__name__)

REPOSITORY_INJECTION_NAME = "saga_execution_repository"


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


@injectable("saga_manager")
class SagaManager(SetupMixin):
    """Runs saga executions, keeps them in ``storage`` while they wait, and resumes them with replies.

    All work on one execution happens under ``storage.lock(uuid)``, with a fresh read when resuming, so a reply
    delivered twice, or raced by two replicas, runs its step once; replies for a step that is no longer paused
    are logged and ignored. The messages a step sends are stored with the state that awaits their answers before
    they are published (an outbox in the execution document), and :meth:`recover` publishes those a crash or a
    broker failure left unsent; ``setup()`` runs it once unless ``recover_on_setup=False`` (for a service that
    runs it on start itself).

    Finished executions are deleted, as in 0.7.0, unless ``keep_finished_for`` is given: then they stay stored
    (listable, e.g. with ``minos-saga list --status finished``) for that long, and each finish first deletes the
    finished executions older than that. It needs a storage that implements :class:`SagaExecutionPurger`; in a
    config, the ``saga`` database's ``keep_finished_for`` key sets it in seconds.

    Reply timeouts, retry policies and saga deadlines declared in definitions are enforced by :meth:`recover`,
    reading the time from ``clock`` (the system's unless another :class:`SagaClock` is given).
    """

    @Inject()
    def __init__(
        self,
        storage: SagaExecutionRepository,
        # ``Optional``, not ``X | None``: minos' ``Inject`` only resolves ``typing.Union`` annotations.
        broker_pool: Optional[BrokerClientPool] = None,  # noqa: UP045
        pool_factory: Optional[PoolFactory] = None,  # noqa: UP045
        broker_publisher: Optional[BrokerPublisher] = None,  # noqa: UP045
        *,
        recover_on_setup: bool = True,
        keep_finished_for: Optional[timedelta] = None,  # noqa: UP045
        interceptors: Sequence[SagaInterceptor] = (),
        clock: Optional[SagaClock] = None,  # noqa: UP045
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.clock = clock if clock is not None else SystemClock()
        """Tells the time: reply timeouts and deadlines are measured on it."""
        if keep_finished_for is not None:
            if not isinstance(keep_finished_for, timedelta):
                raise TypeError(f"keep_finished_for must be a timedelta. Obtained: {keep_finished_for!r}")
            if keep_finished_for <= timedelta(0):
                raise ValueError(f"keep_finished_for must be positive. Obtained: {keep_finished_for!r}")
            if not isinstance(storage, SagaExecutionPurger):
                raise ValueError(
                    f"Keeping finished executions needs a storage that can purge them; {storage!r} cannot."
                )
        self.keep_finished_for = keep_finished_for
        """How long finished executions stay stored (``None``: deleted when they finish, as in 0.7.0)."""
        self.interceptors = tuple(interceptors)
        """Wrap each run, step and commit, outermost first."""
        broker_pool = resolve_broker_pool(broker_pool, pool_factory)
        if not isinstance(broker_pool, BrokerClientPool):
            raise NotProvidedException(f"A {BrokerClientPool!r} instance is required. Obtained: {broker_pool!r}")
        self.storage = storage
        """Keeps executions while they wait (and their locks)."""
        self.broker_pool = broker_pool
        """Provides broker clients to wait for replies in memory and for the commit's reservations."""
        self.broker_publisher = broker_publisher
        """Publishes the stored messages (``None``: the one minos injects)."""
        self.recover_on_setup = recover_on_setup
        """Whether ``setup()`` runs ``recover()`` once."""

    @classmethod
    def _from_config(cls, config: Config, **kwargs: Any) -> SagaManager:
        if "storage" not in kwargs:
            kwargs["storage"] = _storage_from_config(config)
        database = _saga_database(config)
        if "keep_finished_for" not in kwargs and (seconds := database.get("keep_finished_for")):
            kwargs["keep_finished_for"] = timedelta(seconds=float(seconds))
        if "interceptors" not in kwargs and (paths := database.get("interceptors")):
            kwargs["interceptors"] = [import_module(path)() if isinstance(path, str) else path for path in paths]
        return cls(**kwargs)

    async def _setup(self) -> None:
        await super()._setup()
        await self.storage.setup()
        if not self.recover_on_setup:
            return
        try:
            await self.recover()  # messages a previous run stored but did not publish
        except Exception as exc:
            logger.warning("Saga recovery on start failed (the periodic one will retry): %r", exc)

    async def _destroy(self) -> None:
        await self.storage.destroy()
        await super()._destroy()

    async def run(
        self,
        definition: Saga | None = None,
        context: SagaContext | None = None,
        *,
        response: SagaResponse | None = None,
        user: UUID | None = None,
        autocommit: bool = True,
        pause_on_disk: bool = False,
        raise_on_error: bool = True,
        return_execution: bool = True,
        **kwargs: Any,
    ) -> Union[UUID, SagaExecution]:
        """Start ``definition`` on ``context``, or resume the execution ``response`` answers.

        With ``pause_on_disk`` a paused execution is stored and this returns; otherwise it waits for each reply.
        Finished executions are deleted from storage, failed ones stored (and raised if ``raise_on_error``).
        Messages are stored with the state that awaits their answers before they are published (see
        :meth:`recover`).

        A ``timeout`` keyword (seconds) bounds the whole run started here, like a saga ``deadline``: once it passes,
        the step the execution waits on fails with ``SagaStepTimeoutException`` and it compensates. Waits in memory
        end on it, on the step's reply timeout and its retries by themselves; stored executions by :meth:`recover`.
        """
        if response is None and definition is None:
            raise ValueError("A saga definition (to start) or a response (to resume) is required.")
        run_timeout = kwargs.pop("timeout", None)  # a keyword out of the signature, which is 0.7.0's
        if run_timeout is not None and definition is None:
            raise ValueError("A timeout applies to a run that starts a saga, not to a resume.")
        settings = _RunSettings(
            raise_on_error=raise_on_error,
            autocommit=autocommit,
            broker_publisher=kwargs.get("broker_publisher"),
            broker_pool=kwargs.get("broker_pool"),
        )
        start = partial(self._start_or_resume, definition, context, response, user, run_timeout)
        if pause_on_disk:
            execution = await start(settings)
        else:
            execution = await self._run_waiting_replies(start, settings)
        self._report_related_services(execution)
        return execution if return_execution else execution.uuid

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
        async with self.storage.lock(response.uuid):
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
            pending.mark_sent(now, execution.reply_timeout(pending))
        execution.prune_outbox()

    def _broker_publisher(self) -> BrokerPublisher:
        if self.broker_publisher is None:
            self.broker_publisher = Inject.resolve(BrokerPublisher)
        return self.broker_publisher

    async def recover(self) -> int:
        """Publish the stored messages never confirmed sent (the process stopped between storing and publishing
        them, or the broker refused them), each under its execution's lock and with its original identifier, so
        participants can recognise duplicates. Every replica may run it at any time; returns how many messages it
        published."""
        published = 0
        for uuid in await self.storage.list_unsent():
            async with self.storage.lock(uuid):
                try:
                    execution = await self.storage.load(uuid)
                except SagaExecutionNotFoundException:
                    continue  # finished meanwhile
                published += await self._publish(execution)
        published += await self._expire_waits()
        if published:
            logger.info("Recovery published %s stored saga message(s).", published)
        return published

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
        if execution.deadline_at is not None and execution.deadline_at <= now:
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

    async def retry(self, uuid: Union[UUID, str], reason: str | None = None) -> SagaExecution:
        """Re-send what a paused execution waits on (its step's request, or its commit's reservations) with the same
        message identifiers, so a participant that already handled a message recognises it (see
        ``minos.saga.participants``). Under the execution's lock; the decision is stored before anything is sent.
        For an execution whose compensations stalled (ran out of attempts), re-send its unacknowledged compensation
        requests instead, each with its retry policy's attempts anew.

        Raises ``SagaOperatorActionException`` unless the execution is paused on messages this package stored or
        its compensations stalled.
        """
        async with self._operator_action(uuid, "retry", reason) as execution:
            if execution.compensations_stalled:
                await self._retry_compensations(execution)
                return execution
            if execution.status != SagaStatus.Paused or not execution.outbox:
                raise SagaOperatorActionException(
                    f"The {execution.uuid} execution is {execution.status.raw} and waits on no stored message: "
                    "there is nothing to re-send."
                )
            for pending in execution.outbox:
                pending.sent_at = None  # stored as unsent first: a crash now leaves it to recover()
            await self._store_and_publish(execution)
        return execution

    async def _retry_compensations(self, execution: SagaExecution) -> None:
        """Send the unacknowledged compensation requests again (same identifiers), each with its attempts anew."""
        execution.compensations_stalled = False
        for pending in execution.outbox:
            if pending.compensation is not None:
                pending.sent_at, pending.attempts, pending.expires_at = None, 0, None
        await self._store_and_publish(execution)

    async def compensate(self, uuid: Union[UUID, str], reason: str | None = None) -> SagaExecution:
        """Give up on a paused execution and undo it: compensate its in-flight step (its participant may have acted
        on the request) and then every executed step, newest first, and reject its transaction. The execution ends
        ``errored``; a reply arriving afterwards is ignored. Under the execution's lock.

        Raises ``SagaOperatorActionException`` for an execution that finished or was already compensated, and
        ``SagaRollbackExecutionException`` (after storing the outcome) when a compensation fails.
        """
        async with self._operator_action(uuid, "compensate", reason) as execution:
            if execution.status == SagaStatus.Finished or execution.already_rollback:
                raise SagaOperatorActionException(
                    f"The {execution.uuid} execution is {execution.status.raw}"
                    f"{' and compensated' if execution.already_rollback else ''}: there is nothing to compensate."
                )

            await self._undo_in_flight(execution, None, raise_on_error=True)
        return execution

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

    async def abandon(self, uuid: Union[UUID, str], reason: str | None = None) -> SagaExecution:
        """Stop an execution for good without sending anything more: no compensation, no reject, and its messages not
        yet sent are dropped (for an operator who settles it by hand). The execution ends ``errored`` with the
        decision recorded; a reply arriving afterwards is ignored. Under the execution's lock.

        Raises ``SagaOperatorActionException`` for a finished execution.
        """
        async with self._operator_action(uuid, "abandon", reason) as execution:
            if execution.status == SagaStatus.Finished:
                raise SagaOperatorActionException(f"The {execution.uuid} execution finished: there is nothing to stop.")
            execution.outbox = []
            execution.compensations_stalled = False
            execution.reservations = None
            execution.status = SagaStatus.Errored
            await self.storage.store(execution)
        return execution

    @asynccontextmanager
    async def _operator_action(
        self, uuid: Union[UUID, str], action: str, reason: str | None
    ) -> AsyncIterator[SagaExecution]:
        """Load the execution under its lock and record the decision on it; the block stores it."""
        if reason is not None and not isinstance(reason, str):
            raise TypeError(f"reason must be a str. Obtained: {reason!r}")
        try:
            key = uuid if isinstance(uuid, UUID) else UUID(uuid)
        except (TypeError, ValueError, AttributeError):
            raise SagaExecutionNotFoundException(f"{uuid!r} is not a saga execution uuid.") from None
        async with self.storage.lock(key):
            execution = await self.storage.load(key)
            execution.decisions.append(OperatorDecision(action, self.clock.now(), reason))
            logger.info("Operator %s of the %s saga execution (%s).", action, execution.uuid, reason or "no reason")
            yield execution

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


def _storage_from_config(config: Config) -> SagaExecutionRepository:
    """The repository a config names: an injected ``saga_execution_repository``, the class under the ``saga``
    database's ``repository`` key, or (as in 0.7.0) a ``DatabaseSagaExecutionRepository``."""
    try:
        return Inject.resolve_by_name(REPOSITORY_INJECTION_NAME)
    except NotProvidedException:
        pass
    repository_cls: Any = DatabaseSagaExecutionRepository
    database = _saga_database(config)
    if path := database.get("repository"):
        repository_cls = import_module(path) if isinstance(path, str) else path
    return repository_cls.from_config(config)


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


def _saga_database(config: Config) -> dict[str, Any]:
    try:
        return dict(config.get_database_by_name("saga"))
    except MinosConfigException:  # no ``saga`` database: 0.7.0's default repository
        return {}
