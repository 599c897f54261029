"""The entry point services use to run sagas and to resume them with replies."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from contextlib import suppress
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any, NoReturn, Optional, Union, cast
from uuid import UUID

from minos.common import (
    Config,
    Inject,
    Injectable,
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
)

from .context import SagaContext
from .definitions import Saga
from .exceptions import (
    SagaFailedCommitCallbackException,
    SagaFailedExecutionException,
    SagaPausedExecutionStepException,
    SagaResponseMismatchException,
    SagaRollbackExecutionException,
)
from .executions import (
    DatabaseSagaExecutionRepository,
    SagaExecution,
    SagaExecutionPurger,
    SagaExecutionRepository,
    SagaStatus,
)
from .interceptors import SagaInterceptor, active_interceptors, intercept_run
from .messages import SagaResponse

logger = logging.getLogger(__name__)

REPOSITORY_INJECTION_NAME = "saga_execution_repository"


@Injectable("saga_manager")
class SagaManager(SetupMixin):
    """Runs saga executions, keeps them in ``storage`` while they wait, and resumes them with replies.

    All work on one execution happens under ``storage.lock(uuid)``, with a fresh read when resuming, so a reply
    delivered twice, or raced by two replicas, runs its step once; replies for a step that is no longer paused
    are logged and ignored.

    Finished executions are deleted, as in 0.7.0, unless ``keep_finished_for`` is given: then they stay stored
    (listable, e.g. with ``minos-saga list --status finished``) for that long, and each finish first deletes the
    finished executions older than that. It needs a storage that implements :class:`SagaExecutionPurger`; in a
    config, the ``saga`` database's ``keep_finished_for`` key sets it in seconds.
    """

    @Inject()
    def __init__(
        self,
        storage: SagaExecutionRepository,
        # ``Optional``, not ``X | None``: minos' ``Inject`` only resolves ``typing.Union`` annotations.
        broker_pool: Optional[BrokerClientPool] = None,  # noqa: UP045
        pool_factory: Optional[PoolFactory] = None,  # noqa: UP045
        *,
        keep_finished_for: Optional[timedelta] = None,  # noqa: UP045
        interceptors: Sequence[SagaInterceptor] = (),
        **kwargs,
    ):
        super().__init__(**kwargs)
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
        self.interceptors = tuple(interceptors)
        if broker_pool is None and pool_factory is not None:
            broker_pool = pool_factory.get_pool("broker")
        if not isinstance(broker_pool, BrokerClientPool):
            raise NotProvidedException(f"A {BrokerClientPool!r} instance is required. Obtained: {broker_pool!r}")
        self.storage = storage
        self.broker_pool = broker_pool

    @classmethod
    def _from_config(cls, config: Config, **kwargs) -> SagaManager:
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
        **kwargs,
    ) -> Union[UUID, SagaExecution]:
        """Start ``definition`` on ``context``, or resume the execution ``response`` answers.

        With ``pause_on_disk`` a paused execution is stored and this returns; otherwise it waits for each reply.
        Finished executions are deleted from storage, failed ones stored (and raised if ``raise_on_error``).
        """
        options = dict(autocommit=autocommit, pause_on_disk=pause_on_disk, raise_on_error=raise_on_error) | kwargs
        if response is not None:
            execution = await self._resume(response, **options)
        elif definition is not None:
            execution = SagaExecution.from_definition(definition, context=context, user=self._user(user))
            async with self.storage.lock(execution.uuid):
                await self._run(execution, None, **options)
        else:
            raise ValueError("A saga definition (to start) or a response (to resume) is required.")
        self._report_related_services(execution)
        return execution if return_execution else execution.uuid

    async def _resume(self, response: SagaResponse, **options) -> SagaExecution:
        if response.uuid is None:
            raise SagaResponseMismatchException("The response does not name the execution it answers.")
        async with self.storage.lock(response.uuid):
            execution = await self.storage.load(response.uuid)
            if not execution.awaits(response):
                logger.warning(
                    "Ignored a reply for the %s execution (status %s): it answers a step that is not the paused one "
                    "(a duplicated or late reply).",
                    execution.uuid,
                    execution.status.raw,
                )
                return execution
            await self._run(execution, response, **options)
        return execution

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

    async def _run(self, execution: SagaExecution, response: SagaResponse | None, **options) -> None:
        with active_interceptors(self.interceptors):
            await intercept_run(execution, response, partial(self._run_and_store, execution, response, **options))

    async def _run_and_store(
        self,
        execution: SagaExecution,
        response: SagaResponse | None,
        *,
        autocommit: bool,
        pause_on_disk: bool,
        raise_on_error: bool,
        **kwargs,
    ) -> None:
        # The commit pauses on its reservations like a remote step: waiting for them here would hold a broker
        # handler task while the answers (one from this very service) need free ones.
        kwargs = {"broker_pool": self.broker_pool, "pause_on_commit": True} | kwargs
        try:
            if pause_on_disk:
                await self._run_until_paused(execution, response, autocommit, **kwargs)
            else:
                await self._run_waiting_replies(execution, response, autocommit, **kwargs)
        except (SagaFailedExecutionException, SagaRollbackExecutionException) as exc:
            await self.storage.store(execution)
            if raise_on_error:
                raise
            logger.warning("The %s saga execution failed: %r", execution.uuid, exc)
            return
        if execution.status != SagaStatus.Finished:
            await self.storage.store(execution)
        elif self.keep_finished_for is None:
            await self.storage.delete(execution)
        else:
            await self._keep_finished(execution, self.keep_finished_for)

    async def _keep_finished(self, execution: SagaExecution, keep_for: timedelta) -> None:
        expired_before = datetime.now(timezone.utc) - keep_for
        await cast(SagaExecutionPurger, self.storage).purge(status=SagaStatus.Finished, updated_before=expired_before)
        await self.storage.store(execution)

    @staticmethod
    async def _run_until_paused(
        execution: SagaExecution, response: SagaResponse | None, autocommit: bool, **kwargs
    ) -> None:
        with suppress(SagaPausedExecutionStepException):
            await execution.execute(response, autocommit=autocommit, **kwargs)

    async def _run_waiting_replies(
        self, execution: SagaExecution, response: SagaResponse | None, autocommit: bool, **kwargs
    ) -> None:
        async with self.broker_pool.acquire() as broker:  # sets REQUEST_REPLY_TOPIC_CONTEXT_VAR to its topic
            while True:
                try:
                    await execution.execute(response, autocommit=autocommit, **kwargs)
                    return
                except SagaPausedExecutionStepException:
                    await self.storage.store(execution)
                try:
                    response = await self._wait_reply(broker, execution)
                except Exception as exc:
                    await self._fail_waiting(execution, exc, **kwargs)

    @staticmethod
    async def _fail_waiting(execution: SagaExecution, exc: Exception, **kwargs) -> NoReturn:
        """The reply cannot be received: as in 0.7.0 the execution is errored and its transaction rejected (the
        caller stores it)."""
        execution.status = SagaStatus.Errored
        try:
            await execution.reject(**kwargs)
        except SagaFailedCommitCallbackException as reject_failure:
            logger.warning("Could not reject the %s execution's transaction: %r", execution.uuid, reject_failure)
        raise SagaFailedExecutionException(exc) from exc

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
        services = set(filter(None, headers.get("related_services", "").split(",")))
        steps = [*execution.executed_steps, *filter(None, [execution.paused_step])]
        for step in steps:
            services |= step.related_services
        headers["related_services"] = ",".join(sorted(services))


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


def _saga_database(config: Config) -> dict[str, Any]:
    try:
        return dict(config.get_database_by_name("saga"))
    except MinosConfigException:  # no ``saga`` database: 0.7.0's default repository
        return {}
