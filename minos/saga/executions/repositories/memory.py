"""An in-memory repository, for tests, demos and single-process services that can lose their sagas on restart."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from typing import Any
from uuid import UUID

from ...exceptions import SagaExecutionNotFoundException
from .._saga_document import has_unsent_messages, is_due
from ..status import SagaStatus
from .incremental import IncrementalSagaExecutionRepository, SagaExecutionParts
from .listing import SagaExecutionLister, SagaExecutionPurger, SagaExecutionQuery, SagaExecutionSummary


class InMemorySagaExecutionRepository(IncrementalSagaExecutionRepository, SagaExecutionLister, SagaExecutionPurger):
    """Keeps JSON texts (not live objects), so a loaded execution never shares state with a stored one. It stores
    executions in parts, as a document store would: each store writes only the steps that changed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._documents: dict[UUID, _Document] = {}

    async def _write_parts(self, parts: SagaExecutionParts) -> None:
        now = datetime.now(timezone.utc)
        previous = self._documents.get(parts.uuid)
        kept: Sequence[str]
        if previous is None:
            kept, created_at = (), now
        else:
            kept, created_at = previous.parts.steps[: parts.first_changed(previous.parts.revision)], previous.created_at
        steps = (*kept, *parts.steps[len(kept) :])
        stored = SagaExecutionParts(parts.uuid, parts.definition, parts.state, steps, parts.revision)
        self._documents[parts.uuid] = _Document(stored, created_at, now)

    async def _read_parts(self, uuid: UUID) -> SagaExecutionParts:
        try:
            return self._documents[uuid].parts
        except KeyError:
            raise SagaExecutionNotFoundException(f"The {uuid} saga execution does not exist.") from None

    async def _delete(self, uuid: UUID) -> None:
        self._documents.pop(uuid, None)

    async def list_unsent(self) -> list[UUID]:
        """The uuids of stored executions with outbox messages never confirmed published, for recovery."""
        return [uuid for uuid, document in self._documents.items() if has_unsent_messages(document.state)]

    async def list_due(self, now: datetime) -> list[UUID]:
        """The uuids of paused executions whose wait expired or deadline passed at ``now``, for recovery."""
        return [uuid for uuid, document in self._documents.items() if is_due(document.state, now)]

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
    parts: SagaExecutionParts
    created_at: datetime
    updated_at: datetime

    @cached_property
    def state(self) -> dict[str, Any]:
        """The stored state, which holds the ``orchestrator`` metadata recovery searches."""
        return json.loads(self.parts.state)

    @cached_property
    def summary(self) -> SagaExecutionSummary:
        return SagaExecutionSummary.from_raw(json.loads(self.parts.document), self.updated_at, self.created_at)
