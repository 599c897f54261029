"""What operators decided about an execution (retry, compensate, abandon), stored with it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class OperatorDecision:
    """One operator action on an execution: ``action`` (``retry``, ``compensate`` or ``abandon``), when, and the
    reason the operator gave (if any)."""

    action: str
    """``retry``, ``compensate`` or ``abandon``."""
    at: datetime
    """When it was decided (UTC)."""
    reason: str | None = None
    """Why, as the operator gave it."""

    @property
    def raw(self) -> dict[str, Any]:
        """The decision as stored with its execution."""
        return {"action": self.action, "at": self.at.isoformat(), "reason": self.reason}

    @classmethod
    def from_raw(cls, raw: dict[str, Any]) -> OperatorDecision:
        """Read a record written by :attr:`raw`."""
        return cls(str(raw["action"]), datetime.fromisoformat(raw["at"]), raw.get("reason"))


def stopping_decision(decisions: list[OperatorDecision]) -> OperatorDecision | None:
    """The last ``compensate`` or ``abandon`` decision: an execution errored by it had no step fail."""
    return next((decision for decision in reversed(decisions) if decision.action in ("compensate", "abandon")), None)
