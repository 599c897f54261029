"""The saga's transactions: user callbacks joined to ``minos.aggregate``'s, and the two-phase commit's topics.

With ``minos-microservice-aggregate`` installed and its transaction repository injected, each callback runs inside
``TransactionEntry(uuid=<execution uuid>, autocommit=False)``, so the aggregate changes it makes are reserved,
committed or rejected together with the saga. Without it, callbacks run plainly.

A finished saga's ``TransactionCommitter`` asks every participating service to reserve, then commit or reject, the
saga's transaction (:func:`transaction_topic`). ``minos.aggregate``'s ``TransactionService`` answers these; a
service without it subclasses :class:`TransactionParticipant`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any
from uuid import UUID

from minos.common import NULL_UUID, Config, Inject, NotProvidedException
from minos.networks import BrokerRequest, EnrouteDecorator, Response, enroute

try:
    from minos.aggregate import (
        TRANSACTION_CONTEXT_VAR,
        EventRepository,
        TransactionEntry,
        TransactionRepository,
        TransactionStatus,
    )

    _PENDING = TransactionStatus.PENDING  # read per callback, bound once (see ``executions.status`` on why)
except ImportError:  # the optional integration is not installed
    TRANSACTION_CONTEXT_VAR = None
    EventRepository = None
    TransactionEntry = None
    TransactionRepository = None
    _PENDING = None


class TransactionScopes:
    """Opens the scope each callback of an execution runs in: an entry of the injected transaction repository, or
    none without one. The repositories are resolved once, when this is built (once per run), not per callback:
    ``TransactionEntry`` resolves any repository it is not given, and the in-memory one again on every save.

    The callbacks of a run share one entry while it is what a new one would be (pending, of the same uuid, on top of
    the same outer transaction): entering it saves it again, as a new entry would, so the repository sees the same
    writes, and building one per callback cost ~2% of a local saga."""

    def __init__(self, resolve: Callable[[Any], Any] = Inject.resolve) -> None:
        """``resolve`` gives the injected instance of a class (a run passes one that reads the container it resolved
        once)."""
        self.transactions = _provided(resolve, TransactionRepository) if TransactionEntry is not None else None
        """minos.aggregate's transaction repository (``None`` without minos.aggregate or its injection)."""
        self.events = _provided(resolve, EventRepository) if self.transactions is not None else None
        """minos.aggregate's event repository the transaction entries write through."""
        self._last_entry: Any = None

    def __call__(self, uuid: UUID | None) -> AbstractAsyncContextManager[Any]:
        """The scope of a callback of the ``uuid`` execution; callbacks outside any execution run plainly."""
        if self.transactions is None or uuid is None:
            return _NO_SCOPE
        entry = self._last_entry
        if not _reusable(entry, uuid):
            entry = self._last_entry = TransactionEntry(
                uuid=uuid, autocommit=False, transaction_repository=self.transactions, event_repository=self.events
            )
        return entry


def _reusable(entry: Any, uuid: UUID) -> bool:
    """Whether ``entry`` is what a new entry of ``uuid`` would be here: pending (a callback may have committed or
    rejected it) and on top of the current transaction (which also refuses entering it within itself).

    The uuids are compared by identity: an entry keeps the very objects it was built from (the run's uuid, and the
    outer entry's uuid or ``NULL_UUID``), and ``UUID.__eq__`` runs in Python. An equal but distinct uuid only costs
    a new entry."""
    return (
        entry is not None
        and entry.uuid is uuid
        and entry.status is _PENDING
        and entry.destination_uuid is getattr(TRANSACTION_CONTEXT_VAR.get(), "uuid", NULL_UUID)
    )


def _provided(resolve: Callable[[Any], Any], kind: Any) -> Any:
    try:
        return resolve(kind)
    except NotProvidedException:
        return None


class _NoScope(AbstractAsyncContextManager[None]):
    # ``contextlib.nullcontext`` is an async context manager only from Python 3.10 on. Stateless, so one instance
    # serves every callback instead of a generator-based context manager built per callback.
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc_info: Any) -> None:
        return None


_NO_SCOPE = _NoScope()


def transaction_topic(action: str, service: str) -> str:
    """The broker command by which the two-phase commit asks ``service`` to ``action`` (``"Reserve"``, ``"Commit"``
    or ``"Reject"``) a saga's transaction: ``_{Action}{Service}Transaction``, as 0.7.0 and ``minos.aggregate``
    name them."""
    return f"_{action}{service.title()}Transaction"


class TransactionParticipant(ABC):
    """Answers the saga's two-phase commit in a service that does not use ``minos.aggregate``'s
    ``TransactionService``: list the subclass under the config's ``services``.

    It routes the :func:`transaction_topic` commands of the service it runs in (the config's name) to
    :meth:`reserve`, :meth:`commit` and :meth:`reject`; each request's content is the transaction's uuid. Commits and
    rejections may arrive more than once (at-least-once delivery), so they must be idempotent.
    """

    @classmethod
    def __get_enroute__(cls, config: Config) -> dict[str, set[EnrouteDecorator]]:
        service = config.get_name()
        return {
            cls.reserve.__name__: {enroute.broker.command(transaction_topic("Reserve", service))},
            cls.commit.__name__: {enroute.broker.command(transaction_topic("Commit", service))},
            cls.reject.__name__: {enroute.broker.command(transaction_topic("Reject", service))},
        }

    @abstractmethod
    async def reserve(self, request: BrokerRequest) -> Response:
        """Accept the transaction with a successful reply (any content); refuse it by raising
        ``ResponseException``, which makes the saga reject it everywhere and compensate."""

    @abstractmethod
    async def commit(self, request: BrokerRequest) -> None:
        """Make what the transaction holds in this service final."""

    @abstractmethod
    async def reject(self, request: BrokerRequest) -> None:
        """Discard what the transaction holds in this service."""
