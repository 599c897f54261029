"""What operators see when they list stored executions, without loading whole documents."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from ..status import SagaStatus


@dataclass(frozen=True)
class SagaExecutionSummary:
    """One stored execution: its uuid, status, user and when it was last stored."""

    uuid: UUID
    status: SagaStatus
    user: UUID | None
    updated_at: datetime

    @classmethod
    def from_raw(cls, raw: dict[str, Any], updated_at: datetime) -> SagaExecutionSummary:
        user = raw.get("user")
        return cls(
            UUID(raw["uuid"]), SagaStatus.from_raw(raw["status"]), None if user is None else UUID(user), updated_at
        )
