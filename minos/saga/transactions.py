"""Joins user callbacks to the saga's ``minos.aggregate`` transaction, when that optional package is in use.

With ``minos-microservice-aggregate`` installed and its transaction repository injected, each callback runs inside
``TransactionEntry(uuid=<execution uuid>, autocommit=False)``, so the aggregate changes it makes are reserved,
committed or rejected together with the saga. Without it, callbacks run plainly.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any
from uuid import UUID

from minos.common import Inject, NotProvidedException

try:
    from minos.aggregate import EventRepository, TransactionEntry, TransactionRepository
except ImportError:  # the optional integration is not installed
    EventRepository = None
    TransactionEntry = None
    TransactionRepository = None


class TransactionScopes:
    """Opens the scope each callback of an execution runs in: an entry of the injected transaction repository, or
    none without one. The repositories are resolved once, when this is built (once per run), not per callback:
    ``TransactionEntry`` resolves any repository it is not given, and the in-memory one again on every save."""

    def __init__(self) -> None:
        self.transactions = _resolve(TransactionRepository) if TransactionEntry is not None else None
        self.events = _resolve(EventRepository) if self.transactions is not None else None

    def __call__(self, uuid: UUID | None) -> AbstractAsyncContextManager[Any]:
        """The scope of a callback of the ``uuid`` execution; callbacks outside any execution run plainly."""
        if self.transactions is None or uuid is None:
            return _NO_SCOPE
        return TransactionEntry(
            uuid=uuid, autocommit=False, transaction_repository=self.transactions, event_repository=self.events
        )


def _resolve(kind: Any) -> Any:
    try:
        return Inject.resolve(kind)
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
