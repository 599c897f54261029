"""The entry point services use to run sagas and to resume them with replies."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import partial
from typing import Any, Optional, Union
from uuid import UUID

from minos.common import Config, Inject, NotProvidedException, PoolFactory, SetupMixin, import_module
from minos.networks import BrokerClientPool, BrokerPublisher

from ._broker_pool import resolve_broker_pool
from ._injectable import injectable
from ._manager_config import REPOSITORY_INJECTION_NAME, _saga_database, _storage_from_config
from ._manager_outbox import _RunSettings
from ._manager_running import Running
from .clock import SagaClock, SystemClock
from .context import SagaContext
from .definitions import Saga
from .definitions.retries import as_seconds
from .exceptions import (
    SagaExecutionNotFoundException,
    SagaFailedExecutionException,
    SagaOperatorActionException,
    SagaPausedExecutionStepException,
)
from .executions import (
    DatabaseSagaExecutionRepository,
    OperatorDecision,
    SagaExecution,
    SagaExecutionPurger,
    SagaExecutionRepository,
    SagaStatus,
)
from .interceptors import SagaInterceptor
from .messages import SagaResponse

# Importable from here too, as in 0.7.0 (and the repository's injection name, now read in ``_manager_config``).
__all__ = [
    "REPOSITORY_INJECTION_NAME",
    "DatabaseSagaExecutionRepository",
    "Saga",
    "SagaContext",
    "SagaExecution",
    "SagaExecutionRepository",
    "SagaFailedExecutionException",
    "SagaManager",
    "SagaPausedExecutionStepException",
    "SagaResponse",
    "SagaStatus",
]

logger = logging.getLogger(__name__)


@injectable("saga_manager")
class SagaManager(Running, SetupMixin):
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
    reading the time from ``clock`` (the system's unless another :class:`SagaClock` is given). So is
    ``reservation_timeout``: a commit whose reservations are not all answered that many seconds after they were sent
    (60 by default, as 0.7.0's commit waited; ``None``: for ever) is rejected everywhere and compensated, and the
    execution is stored errored. In a config, the ``saga`` database's ``reservation_timeout`` key sets it.
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
        reservation_timeout: Union[float, timedelta, None] = 60,
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
        self.reservation_timeout = (
            None if reservation_timeout is None else as_seconds(reservation_timeout, "reservation_timeout")
        )
        """Seconds a commit waits for each reservation's answer before it gives up (``None``: for ever)."""
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
        if "reservation_timeout" not in kwargs and "reservation_timeout" in database:
            kwargs["reservation_timeout"] = database["reservation_timeout"]
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
