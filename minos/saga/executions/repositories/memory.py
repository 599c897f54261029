"""An in-memory repository, for tests, demos and single-process services that can lose their sagas on restart."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from uuid import UUID

from ...exceptions import SagaExecutionNotFoundException
from ..saga import SagaExecution
from ..status import SagaStatus
from .abc import SagaExecutionRepository
from .listing import SagaExecutionSummary


class InMemorySagaExecutionRepository(SagaExecutionRepository):
    """Keeps raw documents (not live objects), so a loaded execution never shares state with a stored one."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._documents: dict[UUID, tuple[dict[str, Any], datetime]] = {}

    async def _store(self, execution: SagaExecution) -> None:
        self._documents[execution.uuid] = (execution.raw, datetime.now(timezone.utc))

    async def _load(self, uuid: UUID) -> SagaExecution:
        try:
            raw, _ = self._documents[uuid]
        except KeyError:
            raise SagaExecutionNotFoundException(f"The {uuid} saga execution does not exist.") from None
        return SagaExecution.from_raw(raw)

    async def _delete(self, uuid: UUID) -> None:
        self._documents.pop(uuid, None)

    async def list(
        self,
        status: SagaStatus | None = None,
        updated_before: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[SagaExecutionSummary]:
        """Stored executions, oldest update first, optionally filtered by status and last update."""
        summaries = [
            SagaExecutionSummary.from_raw(raw, updated_at)
            for raw, updated_at in self._documents.values()
            if (status is None or raw["status"] == status.raw)
            and (updated_before is None or updated_at < updated_before)
        ]
        summaries.sort(key=lambda summary: summary.updated_at)
        return summaries[offset : offset + limit]
