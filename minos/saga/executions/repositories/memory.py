"""An in-memory repository, for tests, demos and single-process services that can lose their sagas on restart."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

from ...exceptions import SagaExecutionNotFoundException
from .._saga_document import has_unsent_messages, is_due
from ..saga import SagaExecution
from ..status import SagaStatus
from .abc import SagaExecutionRepository
from .listing import SagaExecutionLister, SagaExecutionPurger, SagaExecutionQuery, SagaExecutionSummary


class InMemorySagaExecutionRepository(SagaExecutionRepository, SagaExecutionLister, SagaExecutionPurger):
    """Keeps raw documents (not live objects), so a loaded execution never shares state with a stored one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._documents: dict[UUID, _Document] = {}

    async def _store(self, execution: SagaExecution) -> None:
        now = datetime.now(timezone.utc)
        previous = self._documents.get(execution.uuid)
        self._documents[execution.uuid] = _Document(
            execution.raw, now if previous is None else previous.created_at, now
        )

    async def _load(self, uuid: UUID) -> SagaExecution:
        try:
            document = self._documents[uuid]
        except KeyError:
            raise SagaExecutionNotFoundException(f"The {uuid} saga execution does not exist.") from None
        return SagaExecution.from_raw(document.raw)

    async def _delete(self, uuid: UUID) -> None:
        self._documents.pop(uuid, None)

    async def list_unsent(self) -> list[UUID]:
        """The uuids of stored executions with outbox messages never confirmed published, for recovery."""
        return [uuid for uuid, document in self._documents.items() if has_unsent_messages(document.raw)]

    async def list_due(self, now: datetime) -> list[UUID]:
        """The uuids of paused executions whose wait expired or deadline passed at ``now``, for recovery."""
        return [uuid for uuid, document in self._documents.items() if is_due(document.raw, now)]

    async def _list(self, query: SagaExecutionQuery) -> list[SagaExecutionSummary]:
        summaries = (document.summary for document in self._documents.values())
        selected = sorted(filter(query.matches, summaries), key=lambda summary: (summary.updated_at, summary.uuid))
        return selected[: query.limit]

    async def _purge(self, status: SagaStatus, updated_before: datetime) -> int:
        query = SagaExecutionQuery(status=status, updated_before=updated_before)
        expired = [uuid for uuid, document in self._documents.items() if query.matches(document.summary)]
        for uuid in expired:
            del self._documents[uuid]
        return len(expired)


@dataclass(frozen=True)
class _Document:
    raw: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @property
    def summary(self) -> SagaExecutionSummary:
        return SagaExecutionSummary.from_raw(self.raw, self.updated_at, self.created_at)
