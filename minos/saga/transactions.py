"""Joins user callbacks to the saga's ``minos.aggregate`` transaction, when that optional package is in use.

With ``minos-microservice-aggregate`` installed and its transaction repository injected, each callback runs inside
``TransactionEntry(uuid=<execution uuid>, autocommit=False)``, so the aggregate changes it makes are reserved,
committed or rejected together with the saga. Without it, callbacks run plainly.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, Optional
from uuid import UUID

from minos.common import Inject, NotProvidedException

try:
    from minos.aggregate import TransactionEntry, TransactionRepository
except ImportError:  # the optional integration is not installed
    TransactionEntry = None
    TransactionRepository = None


def transaction_repository() -> Optional[TransactionRepository]:  # noqa: UP045
    """The injected transaction repository, or ``None`` when the integration is not installed or not injected."""
    if TransactionEntry is None or TransactionRepository is None:
        return None
    try:
        return Inject.resolve(TransactionRepository)
    except NotProvidedException:
        return None


def transaction_scope(
    uuid: UUID | None,
    repository: Optional[TransactionRepository],  # noqa: UP045
) -> AbstractAsyncContextManager[Any]:
    """The scope a callback of the ``uuid`` execution runs in: an entry of ``repository`` (see
    ``transaction_repository()``). Callbacks outside any execution, or without a repository, run plainly."""
    if repository is None or uuid is None:
        return _NO_SCOPE
    return TransactionEntry(uuid=uuid, autocommit=False, transaction_repository=repository)


class _NoScope(AbstractAsyncContextManager[None]):
    # ``contextlib.nullcontext`` is an async context manager only from Python 3.10 on. Stateless, so one instance
    # serves every callback instead of a generator-based context manager built per callback.
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc_info: Any) -> None:
        return None


_NO_SCOPE = _NoScope()
