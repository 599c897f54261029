"""A tiny on-disk saga repository: one JSON document per execution in a directory.

It is what lets the demo restart its orchestrator for real: a new ``FileSagaExecutionRepository`` over the same
directory sees the executions the previous one stored. It lists and purges like the package's repositories (it
adopts the same ``SagaExecutionLister`` and ``SagaExecutionPurger`` capabilities), so ``minos-saga`` can open it
from a config whose ``saga`` database names it::

    databases:
      saga:
        repository: demo.storage.FileSagaExecutionRepository
        directory: /tmp/minos-saga-demo-xxxx
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from uuid import UUID

from minos.common import Config

from minos.saga import (
    SagaExecution,
    SagaExecutionLister,
    SagaExecutionNotFoundException,
    SagaExecutionPurger,
    SagaExecutionQuery,
    SagaExecutionRepository,
    SagaExecutionSummary,
    SagaStatus,
)


class FileSagaExecutionRepository(SagaExecutionRepository, SagaExecutionLister, SagaExecutionPurger):
    """Stores ``execution.raw`` as ``<directory>/<uuid>.json`` (written atomically through a temporary file)."""

    def __init__(self, directory: str | Path, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    @classmethod
    def _from_config(cls, config: Config, **kwargs) -> FileSagaExecutionRepository:
        return cls(config.get_database_by_name("saga")["directory"], **kwargs)

    def _path(self, uuid: UUID) -> Path:
        return self.directory / f"{uuid}.json"

    async def _store(self, execution: SagaExecution) -> None:
        path = self._path(execution.uuid)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(execution.raw, default=str, indent=2))
        temporary.replace(path)

    async def _load(self, uuid: UUID) -> SagaExecution:
        try:
            raw = json.loads(self._path(uuid).read_text())
        except FileNotFoundError:
            raise SagaExecutionNotFoundException(f"The {uuid} saga execution does not exist.") from None
        return SagaExecution.from_raw(raw)

    async def _delete(self, uuid: UUID) -> None:
        self._path(uuid).unlink(missing_ok=True)

    def _executions(self) -> list[SagaExecution]:
        return [SagaExecution.from_raw(json.loads(path.read_text())) for path in self.directory.glob("*.json")]

    async def list_unsent(self) -> list[UUID]:
        """Executions holding messages never confirmed published (``SagaManager.recover()`` sends them)."""
        return [execution.uuid for execution in self._executions() if any(not m.sent for m in execution.outbox)]

    async def list_due(self, now: datetime) -> list[UUID]:
        """Paused executions whose wait for a reply expired at ``now`` (``SagaManager.recover()`` handles them)."""
        return [execution.uuid for execution in self._executions() if (at := execution.wake_at) and at <= now]

    def _summaries(self, query: SagaExecutionQuery) -> list[SagaExecutionSummary]:
        summaries = []
        for path in self.directory.glob("*.json"):
            updated_at = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
            summary = SagaExecutionSummary.from_raw(json.loads(path.read_text()), updated_at)
            if query.matches(summary):
                summaries.append(summary)
        return sorted(summaries, key=lambda summary: (summary.updated_at, summary.uuid))

    async def _list(self, query: SagaExecutionQuery) -> list[SagaExecutionSummary]:
        return self._summaries(query)[: query.limit]

    async def _purge(self, status: SagaStatus, updated_before: datetime) -> int:
        expired = self._summaries(SagaExecutionQuery(status=status, updated_before=updated_before))
        for summary in expired:
            self._path(summary.uuid).unlink(missing_ok=True)
        return len(expired)
