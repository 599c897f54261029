"""A running saga: its definition, context, executed steps and the step it is paused on."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, NoReturn, Union
from uuid import UUID

from .._random_uuids import uuid4
from ..context import SagaContext
from ..definitions import RetryPolicy, Saga, SagaStep
from ..exceptions import (
    SagaDefinitionFormatException,
    SagaExecutionAlreadyExecutedException,
    SagaExecutionFormatException,
    SagaFailedCommitCallbackException,
    SagaFailedExecutionStepException,
    SagaPausedExecutionStepException,
    SagaResponseMismatchException,
    SagaRollbackExecutionException,
    SagaRollbackExecutionStepException,
    SagaStepExecutionException,
)
from ..interceptors import intercept_commit, intercept_step
from ..messages import SagaResponse
from ._options import RunOptions
from ._outbox import PendingMessage
from ._saga_document import (
    FORMAT_VERSION,
    METADATA_KEY,
    _as_context,
    _as_uuid,
    _context_avro_str,
    _definition_from_raw,
    _StepExecutionReader,
    wake_time_text,
)
from .commit import TransactionCommitter
from .decisions import OperatorDecision
from .status import SagaStatus
from .steps import ConditionalSagaStepExecution, RemoteSagaStepExecution, SagaStepExecution

if TYPE_CHECKING:
    from .repositories.incremental import SagaExecutionParts

# The step definition and exception classes are importable from here too, as in 0.7.0.
__all__ = ["SagaExecution", "SagaStep", "SagaStepExecutionException"]

# Read by every run, bound once (see ``status`` on why).
_RUNNING, _FINISHED, _ERRORED = SagaStatus.Running, SagaStatus.Finished, SagaStatus.Errored

logger = logging.getLogger(__name__)


class SagaExecution:
    """Runs a committed :class:`Saga` step by step, pausing on remote steps until their reply arrives."""

    _stored_parts: SagaExecutionParts | None = None
    # The parts last stored or loaded by an ``IncrementalSagaExecutionRepository``; set on the instance only then.

    def __init__(
        self,
        definition: Saga,
        uuid: UUID,
        context: SagaContext,
        status: SagaStatus = SagaStatus.Created,
        steps: list[SagaStepExecution] | None = None,
        paused_step: SagaStepExecution | None = None,
        already_rollback: bool = False,
        user: UUID | None = None,
        *args: Any,
        **kwargs: Any,
    ):
        definition.validate()
        self.definition = definition
        """The (committed) saga it runs."""
        self.uuid = uuid
        """Its identity: replies name it, repositories key it."""
        self.context = context
        """The values its callbacks read and write."""
        self.status = status
        """Where it stands: created, running, paused, finished or errored."""
        self.executed_steps: list[SagaStepExecution] = list(steps) if steps is not None else []
        """The steps that ran (and may have to be compensated), oldest first."""
        self.paused_step = paused_step
        """The step waiting for a reply (``None`` when none waits)."""
        self.already_rollback = already_rollback
        """Whether its compensations have run."""
        self.user = user
        """The user it runs on behalf of (``None``: none); its requests carry it."""
        reservations: dict[Any, bool | None] | None = kwargs.get("reservations")
        self.reservations = None if reservations is None else {_as_uuid(k): v for k, v in reservations.items()}
        """While the commit waits on its reservations (a ``reservations`` keyword when loading): each request
        identifier and its answer, ``None`` until it arrives."""
        self.outbox: list[PendingMessage] = list(kwargs.get("outbox", ()))
        """Messages stored with this state and not yet published, or published and awaiting their answer (filled by
        ``SagaManager``; ``execute()`` alone publishes as it goes and leaves it empty)."""
        self.decisions: list[OperatorDecision] = list(kwargs.get("decisions", ()))
        """What operators decided about it, oldest first (see ``SagaManager.retry`` and the others)."""
        self.deadline_at: datetime | None = kwargs.get("deadline_at")
        """When the saga's deadline passes (set by ``SagaManager`` when it starts a definition declaring one)."""
        self.compensations_stalled: bool = kwargs.get("compensations_stalled", False)
        """A compensation request ran out of attempts: the execution waits for an operator's ``retry``."""
        self._keeping_document = False  # see ``_document_kept``
        self._kept_document: dict[str, Any] | None = None

    @contextmanager
    def _document_kept(self) -> Iterator[None]:
        """A block that leaves this execution unchanged (a repository storing it): the document built for the checked
        text of a store (see ``storable_document``) is handed, once, to the next :attr:`raw`, which a repository's
        ``_store`` reads, instead of being built (its context encoded) again."""
        if self._keeping_document:  # an enclosing block keeps it
            yield
            return
        self._keeping_document = True
        try:
            yield
        finally:
            self._keeping_document, self._kept_document = False, None

    @classmethod
    def from_definition(
        cls, definition: Saga, context: SagaContext | None = None, uuid: UUID | None = None, *args: Any, **kwargs: Any
    ) -> SagaExecution:
        """A new execution of ``definition`` (which must be committed) starting from ``context``."""
        if uuid is None:
            uuid = uuid4()
        if context is None:
            context = SagaContext()
        return cls(definition, uuid, context, *args, **kwargs)

    @classmethod
    def from_saga(
        cls, definition: Saga, context: SagaContext | None = None, *args: Any, **kwargs: Any
    ) -> SagaExecution:
        """Deprecated alias of :meth:`from_definition`."""
        warnings.warn("from_saga() is deprecated; use from_definition() instead.", DeprecationWarning, stacklevel=2)
        return cls.from_definition(definition, context, *args, **kwargs)

    @classmethod
    def from_raw(cls, raw: Union[dict[str, Any], SagaExecution], **kwargs: Any) -> SagaExecution:
        """Load a raw document written by this package or by 0.7.0."""
        if isinstance(raw, SagaExecution):
            return raw
        if not isinstance(raw, dict):
            raise SagaExecutionFormatException(f"A raw saga execution must be a dict. Obtained: {raw!r}")
        metadata = raw.get(METADATA_KEY) or {}
        version = metadata.get("format", 1) if isinstance(metadata, dict) else None
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise SagaExecutionFormatException(
                f"The raw saga execution has format version {version!r}; this package reads up to {FORMAT_VERSION}."
            )
        try:
            fields = dict(raw) | kwargs
            fields.pop(METADATA_KEY, None)
            definition = fields["definition"] = _definition_from_raw(fields["definition"])
            step_from_raw = _StepExecutionReader(raw["definition"], definition)
            fields["uuid"] = _as_uuid(fields["uuid"])
            fields["status"] = SagaStatus.from_raw(fields["status"])
            fields["context"] = _as_context(fields["context"])
            fields["steps"] = [step_from_raw(step) for step in fields.pop("executed_steps", ())]
            if (paused_step := fields.get("paused_step")) is not None:
                fields["paused_step"] = step_from_raw(paused_step)
            if (user := fields.get("user")) is not None:
                fields["user"] = _as_uuid(user)
            awaited = metadata.get("awaiting")
            fields["outbox"] = [PendingMessage.from_raw(record) for record in metadata.get("outbox", ())]
            fields["decisions"] = [OperatorDecision.from_raw(record) for record in metadata.get("decisions", ())]
            if (deadline_at := metadata.get("deadline_at")) is not None:
                fields["deadline_at"] = datetime.fromisoformat(deadline_at)
            fields["compensations_stalled"] = bool(metadata.get("compensations_stalled", False))
            execution = cls(**fields)
            if awaited is not None:
                execution._set_awaited_request(_as_uuid(awaited))
        except (SagaDefinitionFormatException, SagaExecutionFormatException):
            raise  # already precise (and ``TypeError`` subclasses)
        except (KeyError, TypeError, ValueError) as exc:
            raise SagaExecutionFormatException(f"The raw saga execution is not valid: {exc!r}") from exc
        return execution

    async def execute(
        self,
        response: SagaResponse | None = None,
        *args: Any,
        autocommit: bool = True,
        **kwargs: Any,
    ) -> SagaContext:
        """Run the paused step with ``response`` (if any), then the pending steps, and return the context.

        Raises ``SagaPausedExecutionStepException`` when a remote step waits for its reply, and
        ``SagaFailedExecutionStepException`` after compensating the executed steps when a step fails.

        With the ``pause_on_commit=True`` keyword the two-phase commit does not wait for the reservation answers: it
        publishes the reservations and pauses like a remote step, and each answer resumes it (``execute(answer)``).
        """
        if self.status is _FINISHED or (self.status is _ERRORED and response is None):
            raise SagaExecutionAlreadyExecutedException(
                f"The {self.uuid} execution cannot be executed because it is {self.status.raw}."
            )
        if self.status is _ERRORED:
            return self.context  # a late reply for an execution that already failed
        options = self._options(kwargs)
        if response is not None:
            self._check_response(response)
        if self.reservations is not None:
            await self._receive_reservation(response, options)
            return self.context

        self.status = _RUNNING
        if self.paused_step is not None:
            await self._execute_step(self.paused_step, response, autocommit, options)
            self.paused_step = None
        for definition in self.definition.steps[len(self.executed_steps) :]:
            await self._execute_step(SagaStepExecution.from_definition(definition), None, autocommit, options)

        self.status = _FINISHED
        if autocommit and options.pause_on_commit:
            await self._reserve(options)
        elif autocommit:
            await self._commit(options)
        return self.context

    def _options(self, keywords: dict[str, Any]) -> RunOptions:
        """The options of a run of this execution, from the keywords of a public method."""
        if (given := keywords.get("options")) is not None:
            return given.of_execution(self.uuid, self.user)
        return RunOptions.of_keywords(self.uuid, self.user, keywords)

    def _check_response(self, response: SagaResponse) -> None:
        if response.uuid is not None and response.uuid != self.uuid:
            raise SagaResponseMismatchException(
                f"The response answers the {response.uuid} execution, not the {self.uuid} one."
            )
        if self.status != SagaStatus.Paused:
            raise SagaResponseMismatchException(f"The {self.uuid} execution is {self.status.raw}, not paused.")
        if not self.awaits(response):
            raise SagaResponseMismatchException(
                f"The response answers the {response.request_id} request, not the one the {self.uuid} execution "
                "is waiting on (a duplicated or late reply)."
            )

    def awaits(self, response: SagaResponse) -> bool:
        """Whether the execution is paused on the request ``response`` answers (a step's or a reservation's)."""
        if self.status != SagaStatus.Paused:
            return False
        if self.reservations is not None:
            return response.request_id is not None and self.reservations.get(response.request_id, False) is None
        return self.paused_step is not None and self.paused_step.awaits(response)

    @property
    def awaited_request(self) -> UUID | None:
        """The identifier of the request message the paused remote step (maybe inside conditional steps) waits on;
        ``None`` when not paused on one, or when loaded from a 0.7.0 document (then any reply applies)."""
        step = self._paused_remote_step()
        return None if step is None else step.request_id

    def _set_awaited_request(self, request_id: UUID) -> None:
        if (step := self._paused_remote_step()) is None:
            raise ValueError(f"The {self.uuid} execution awaits {request_id} but is not paused on a remote step.")
        step.request_id = request_id

    def prune_outbox(self) -> None:
        """Forget the published messages whose answer is no longer awaited (the others may need publishing again)."""
        awaited = {self.awaited_request, *self._unanswered_reservations()}
        self.outbox = [
            pending
            for pending in self.outbox
            if not pending.sent or pending.identifier in awaited or pending.compensation is not None
        ]

    def compensation_terms(self, identifier: UUID) -> tuple[RetryPolicy, float | None] | None:
        """The retry policy and reply timeout of the compensation request ``identifier`` a step's rollback just
        built, when its step declares a timeout or a retry policy (its reply is then awaited); ``None`` otherwise."""
        for step in _remote_steps(self.executed_steps):
            definition = step.definition
            if step.compensation_id == identifier:
                if definition.reply_timeout is None and definition.retry_policy is None:
                    return None
                return definition.retry_policy or RetryPolicy(), definition.reply_timeout
        return None

    def awaited_compensation(self, response: SagaResponse) -> PendingMessage | None:
        """The stored compensation request ``response`` answers, if its reply is still awaited."""
        return next(
            (
                pending
                for pending in self.outbox
                if pending.compensation is not None and pending.sent and pending.identifier == response.request_id
            ),
            None,
        )

    @property
    def awaited_message(self) -> PendingMessage | None:
        """The stored request the paused remote step waits on (``None`` when there is none)."""
        awaited = self.awaited_request
        return next((pending for pending in self.outbox if pending.identifier == awaited), None)

    @property
    def awaited_policy(self) -> RetryPolicy | None:
        """The retry policy of the paused remote step (a single attempt when it declares none)."""
        step = self._paused_remote_step()
        return None if step is None else step.definition.attempts_policy

    def reply_timeout(self, pending: PendingMessage) -> float | None:
        """Seconds to wait for the answer to ``pending``: the paused remote step's timeout for its request."""
        if pending.compensation is not None:
            return pending.compensation_timeout
        step = self._paused_remote_step()
        if step is None or pending.identifier != step.request_id:
            return None
        return step.definition.reply_timeout

    @property
    def wake_at(self) -> datetime | None:
        """When ``SagaManager.recover()`` must look at this paused execution again: the saga's deadline, or when the
        awaited request is due to be sent again (its wait expired, plus the policy's backoff) or to fail; when the
        wait for a reservation's answer ends; or when an awaited compensation request is due to be sent again or to
        run out of attempts."""
        times = self._compensation_wake_times()
        if self.status == SagaStatus.Paused and self.reservations is not None:
            unanswered = self._unanswered_reservations()
            times.extend(
                pending.expires_at
                for pending in self.outbox
                if pending.expires_at is not None and pending.identifier in unanswered
            )
        if self.status != SagaStatus.Paused or self.paused_step is None:
            return min(times, default=None)
        if self.deadline_at is not None:
            times.append(self.deadline_at)
        pending = self.awaited_message if self.outbox else None  # every stored document reads this: no search if empty
        if pending is not None and pending.expires_at is not None and (policy := self.awaited_policy) is not None:
            times.append(pending.expires_at + timedelta(seconds=policy.interval(pending.attempts)))
        return min(times, default=None)

    def _unanswered_reservations(self) -> set[UUID]:
        """The request identifiers of the commit's reservations still without an answer (none when it waits for
        none)."""
        return {request_id for request_id, answer in (self.reservations or {}).items() if answer is None}

    def _compensation_wake_times(self) -> list[datetime]:
        if self.compensations_stalled:
            return []
        return [
            pending.expires_at + timedelta(seconds=pending.compensation.interval(pending.attempts))
            for pending in self.outbox
            if pending.compensation is not None and pending.expires_at is not None
        ]

    def _paused_remote_step(self) -> RemoteSagaStepExecution | None:
        step = self.paused_step
        while isinstance(step, ConditionalSagaStepExecution) and step.inner is not None:
            step = step.inner.paused_step
        return step if isinstance(step, RemoteSagaStepExecution) else None

    async def _execute_step(
        self, step: SagaStepExecution, response: SagaResponse | None, autocommit: bool, options: RunOptions
    ) -> None:
        try:
            execute = intercept_step(self, step, "execute" if response is None else "reply", step.execute)
            self.context = await execute(self.context, response=response, options=options)
        except SagaPausedExecutionStepException:
            self.paused_step = step
            self.status = SagaStatus.Paused
            raise
        except SagaFailedExecutionStepException:
            self.paused_step = None
            self.status = SagaStatus.Errored  # even when a compensation fails below (0.7.0 left it running)
            await self._rollback(autocommit, options)
            raise
        self.executed_steps.append(step)

    async def rollback(self, *args: Any, autoreject: bool = True, **kwargs: Any) -> None:
        """Compensate the executed steps, newest first, then reject the transaction (``autoreject``). Failed
        compensations are logged and the rest still run; any failure, the reject's included, raises
        ``SagaRollbackExecutionException`` once everything ran (the rollback counts as done)."""
        await self._rollback(autoreject, self._options(kwargs))

    async def _rollback(self, autoreject: bool, options: RunOptions) -> None:
        if self.already_rollback:
            raise SagaRollbackExecutionException("The execution rollback was already performed.")
        failures = []
        for step in reversed(self.executed_steps):
            try:
                compensate = intercept_step(self, step, "compensation", step.rollback)
                self.context = await compensate(self.context, options=options)
            except SagaRollbackExecutionStepException as exc:
                logger.warning("Compensation of %r in the %s execution failed: %s", step, self.uuid, exc)
                failures.append(exc)
        if autoreject:
            try:
                await self._committer(options).reject()
            except SagaFailedCommitCallbackException as exc:
                failures.append(exc)
        self.already_rollback = True
        if failures:
            raise SagaRollbackExecutionException(f"The execution failed during the rollback process: {failures!r}")

    async def commit(self, *args: Any, **kwargs: Any) -> None:
        """Two-phase commit of a finished execution; a refusal compensates it and leaves it errored."""
        await self._commit(self._options(kwargs))

    async def _commit(self, options: RunOptions) -> None:
        if self.status != SagaStatus.Finished:
            raise ValueError(f"Only finished executions can be committed. The {self.uuid} one is {self.status.raw}.")
        committer = self._committer(options)
        try:
            await intercept_commit(self, committer.commit)
        except Exception as exc:
            await self._fail_commit(exc, options)

    async def _reserve(self, options: RunOptions) -> None:
        committer = self._committer(options)
        try:
            request_ids = await committer.reserve()
        except Exception as exc:
            with suppress(SagaFailedCommitCallbackException):  # the commit's own failure is what is raised
                await committer.reject()
            await self._fail_commit(exc, options)
        if request_ids:
            self.reservations = dict.fromkeys(request_ids)
            self.status = SagaStatus.Paused
            raise SagaPausedExecutionStepException()

    async def _receive_reservation(self, response: SagaResponse | None, options: RunOptions) -> None:
        if self.reservations is None or response is None or response.request_id is None:
            raise SagaPausedExecutionStepException()  # still waiting for the answers
        self.reservations[response.request_id] = response.ok
        if None in self.reservations.values():
            raise SagaPausedExecutionStepException()
        answers, self.reservations = [bool(answer) for answer in self.reservations.values()], None
        self.status = SagaStatus.Finished
        try:
            committer = self._committer(options)
            await intercept_commit(self, partial(committer.conclude, answers))
        except Exception as exc:
            await self._fail_commit(exc, options)

    async def _fail_commit(self, exc: Exception, options: RunOptions) -> NoReturn:
        logger.warning("The commit of the %s execution failed: %r", self.uuid, exc)
        self.status = SagaStatus.Errored  # also when the rollback below fails
        await self._rollback(False, options)
        raise SagaFailedCommitCallbackException(exc) from exc

    async def reject(self, *args: Any, **kwargs: Any) -> None:
        """Ask every participant to discard this execution's transaction."""
        await self._committer(self._options(kwargs)).reject()

    def _committer(self, options: RunOptions) -> TransactionCommitter:
        return TransactionCommitter.of_run(self.uuid, self.executed_steps, options)

    @property
    def raw(self) -> dict[str, Any]:
        """The document to store: :attr:`core_raw`, plus ``reservations`` while the commit waits and ``orchestrator``
        metadata while there is any."""
        return self._document(self.definition.raw, [step.raw for step in self.executed_steps])

    def _document(self, definition: Any, executed_steps: Any, *, keep: bool = False) -> dict[str, Any]:
        """:attr:`raw` with the given values as its definition and executed steps (``storable_document`` gives the
        text of those parts it keeps, and asks to ``keep`` the document for the next one of a ``_document_kept``
        block)."""
        if (kept := self._kept_document) is not None and not keep:
            self._kept_document = None  # handed out once: its new owner may change it
            return kept | {"definition": definition, "executed_steps": executed_steps}
        raw = self._core(definition, executed_steps) | self._raw_reservations()
        if (metadata := self._metadata()) is not None:
            raw[METADATA_KEY] = metadata
        if keep and self._keeping_document:
            self._kept_document = raw
        return raw

    @property
    def core_raw(self) -> dict[str, Any]:
        """The document with exactly 0.7.0's keys (conditional steps embed their inner execution this way)."""
        return self._core(self.definition.raw, [step.raw for step in self.executed_steps])

    def _core(self, definition: Any, executed_steps: Any) -> dict[str, Any]:
        return {
            "definition": definition,
            "uuid": str(self.uuid),
            "status": self.status.raw,
            "executed_steps": executed_steps,
            "paused_step": None if self.paused_step is None else self.paused_step.raw,
            "context": _context_avro_str(self.context),
            "already_rollback": self.already_rollback,
            "user": None if self.user is None else str(self.user),
        }

    def _raw_reservations(self) -> dict[str, Any]:
        if self.reservations is None:
            return {}  # the key exists only while the commit waits, so other documents keep 0.7.0's shape
        return {"reservations": {str(request_id): answer for request_id, answer in self.reservations.items()}}

    def _metadata(self) -> dict[str, Any] | None:
        metadata: dict[str, Any] = {}
        if (awaited := self.awaited_request) is not None:
            metadata["awaiting"] = str(awaited)
        if self.outbox:
            metadata["outbox"] = [pending.raw for pending in self.outbox]
        if self.decisions:
            metadata["decisions"] = [decision.raw for decision in self.decisions]
        if self.deadline_at is not None:
            metadata["deadline_at"] = self.deadline_at.isoformat()
        if self.compensations_stalled:
            metadata["compensations_stalled"] = True
        if (wake_at := self.wake_at) is not None:
            metadata["wake_at"] = wake_time_text(wake_at)
        return {"format": FORMAT_VERSION} | metadata if metadata else None

    def __eq__(self, other: Any) -> bool:
        return type(self) is type(other) and tuple(self) == tuple(other)

    def __iter__(self) -> Iterator[Any]:
        """The parts equality compares, in 0.7.0's order; like 0.7.0, it leaves ``paused_step`` out."""
        yield from (
            self.definition,
            self.uuid,
            self.status,
            self.executed_steps,
            self.context,
            self.already_rollback,
            self.user,
            self.reservations,
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(uuid={self.uuid!r}, status={self.status!r}, "
            f"executed_steps={len(self.executed_steps)}, paused_step={self.paused_step!r}, user={self.user!r})"
        )


def _remote_steps(steps: list[SagaStepExecution]) -> Iterator[RemoteSagaStepExecution]:
    """The remote steps among ``steps``, those of the conditional steps' inner executions included."""
    for step in steps:
        if isinstance(step, RemoteSagaStepExecution):
            yield step
        elif isinstance(step, ConditionalSagaStepExecution) and step.inner is not None:
            yield from _remote_steps(step.inner.executed_steps)
