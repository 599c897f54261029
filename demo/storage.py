"""A tiny on-disk saga repository: one JSON document per execution in a directory.

It is what lets the demo restart its orchestrator for real: a new ``FileSagaExecutionRepository`` over the same
directory sees the executions the previous one stored.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

from minos.saga import SagaExecution, SagaExecutionNotFoundException, SagaExecutionRepository, SagaExecutionSummary


class FileSagaExecutionRepository(SagaExecutionRepository):
    """Stores ``execution.raw`` as ``<directory>/<uuid>.json`` (written atomically through a temporary file)."""

    def __init__(self, directory: str | Path, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

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

    async def list(self) -> list[SagaExecutionSummary]:
        """Every stored execution, oldest first."""
        summaries = []
        for path in self.directory.glob("*.json"):
            updated_at = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            summaries.append(SagaExecutionSummary.from_raw(json.loads(path.read_text()), updated_at))
        return sorted(summaries, key=lambda summary: summary.updated_at)
