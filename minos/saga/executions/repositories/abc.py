"""Where saga executions are kept between steps."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, AsyncContextManager, Union
from uuid import UUID

from minos.common import SetupMixin

from ...exceptions import SagaExecutionNotFoundException
from .._saga_document import storable_document
from ..saga import SagaExecution


class SagaExecutionRepository(SetupMixin, ABC):
    """Stores, loads and deletes executions by uuid. Implementers provide ``_store``, ``_load`` and ``_delete``;
    ``_load`` raises ``SagaExecutionNotFoundException`` for an unknown uuid."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._locks: dict[UUID, asyncio.Lock] = {}

    @asynccontextmanager
    async def lock(self, uuid: UUID) -> AsyncIterator[None]:
        """Serialise all work on one execution. This default only covers this process; repositories shared by
        several processes override it with a lock those processes share."""
        lock = self._locks.setdefault(uuid, asyncio.Lock())
        try:
            async with lock:
                yield
        finally:
            if not lock.locked() and not getattr(lock, "_waiters", None):
                self._locks.pop(uuid, None)

    def lock_new(self, uuid: UUID) -> AsyncContextManager[None]:
        """:meth:`lock` for an execution this process has just created, whose uuid no other process knows until it
        is stored or its messages are sent: a repository shared by several processes may take the lock with the
        block's first write instead of a round trip of its own. This default is :meth:`lock`."""
        return self.lock(uuid)

    def lock_for_reply(self, uuid: UUID, request_id: UUID | None) -> AsyncContextManager[None]:
        """:meth:`lock` to apply a reply to the ``request_id`` request of the execution. A repository shared by
        several processes may release the lock as it reads the execution, in the same round trip, when the stored
        document shows the execution ignores that reply (a duplicated or late one): the block then only reads what
        it loaded. This default is :meth:`lock`."""
        return self.lock(uuid)

    async def store(self, execution: SagaExecution) -> None:
        """Store ``execution``; a value that cannot be stored raises ``SagaExecutionNotStorableException`` before
        the repository is touched."""
        with execution._document_kept():  # ``_store`` reads ``execution.raw``, built already for the checked text
            await self._store_document(execution, storable_document(execution))

    async def store_at_unlock(self, execution: SagaExecution) -> None:
        """Store ``execution`` at the latest when the lock this task holds on it (see :meth:`lock`) is released: for
        the last write of a locked block, which nothing in the block waits for. A repository shared by several
        processes may send it with the unlock, one round trip instead of two, and raise its failure as the block
        ends. This default stores at once."""
        await self.store(execution)

    async def delete_at_unlock(self, execution: SagaExecution) -> None:
        """Delete ``execution`` at the latest when the lock this task holds on it is released, as
        :meth:`store_at_unlock` stores. This default deletes at once."""
        await self.delete(execution)

    async def _store_document(self, execution: SagaExecution, text: str) -> None:
        """Store the checked document (its JSON ``text``, that of ``execution.raw``); repositories that can use it
        override this instead of ``_store``."""
        await self._store(execution)

    async def _store(self, execution: SagaExecution) -> None:
        raise NotImplementedError

    async def list_unsent(self) -> list[UUID]:
        """The uuids of stored executions holding messages never confirmed published, which
        ``SagaManager.recover()`` publishes. Repositories that cannot search their documents find none (this
        default), so recovery needs the in-memory or the PostgreSQL repository."""
        return []

    @property
    def finds_unsent(self) -> bool:
        """Whether :meth:`list_unsent` can find anything: ``False`` when a repository keeps the default, which finds
        none. ``SagaManager`` then stores each state once, its messages recorded as sent before they leave, since
        no recovery would ever look for them as unsent."""
        return type(self).list_unsent is not SagaExecutionRepository.list_unsent

    async def list_due(self, now: datetime) -> list[UUID]:
        """The uuids of stored paused executions whose wait expired or whose deadline passed at ``now`` (see
        ``SagaExecution.wake_at``), which ``SagaManager.recover()`` re-sends or fails. Like :meth:`list_unsent`,
        this default finds none."""
        return []

    async def load(self, uuid: Union[str, UUID]) -> SagaExecution:
        """The execution stored under ``uuid`` (a ``UUID`` or its string); else ``SagaExecutionNotFoundException``."""
        return await self._load(_uuid_or_not_found(uuid))

    @abstractmethod
    async def _load(self, uuid: UUID) -> SagaExecution:
        """The execution stored under ``uuid``."""

    async def delete(self, uuid: Union[SagaExecution, str, UUID]) -> None:
        """Remove the execution (given itself or its uuid); deleting an unknown one does nothing."""
        if isinstance(uuid, SagaExecution):
            uuid = uuid.uuid
        await self._delete(_uuid_or_not_found(uuid))

    async def _delete(self, uuid: UUID) -> None:
        raise NotImplementedError


def _uuid_or_not_found(uuid: Union[str, UUID]) -> UUID:
    """The uuid a caller names an execution by: a value that is not one names no stored execution (not found)."""
    if isinstance(uuid, UUID):
        return uuid
    try:
        return UUID(uuid)
    except (TypeError, ValueError, AttributeError):
        raise SagaExecutionNotFoundException(f"{uuid!r} is not a saga execution uuid.") from None
