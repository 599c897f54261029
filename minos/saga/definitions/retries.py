"""How long a remote step waits for its reply, and how often its request is sent again before the step fails."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Union

from ..exceptions import SagaDefinitionFormatException


@dataclass(frozen=True)
class RetryPolicy:
    """The attempts of a remote step's request (its first send included), declared with ``.retry(policy)``.

    When the step's reply ``timeout`` expires, or a reply with one of the ``retryable_statuses`` arrives, the request
    is sent again with the same message identity (so an idempotent participant recognises it) while fewer than
    ``maximum_attempts`` were sent; the n-th re-send waits ``initial_interval * backoff_coefficient ** (n - 1)``
    seconds (at most ``maximum_interval``) after the attempt that expired or failed. Then the step fails, and the saga
    compensates as for any failure. Modelled on Temporal's ``RetryPolicy``.
    """

    maximum_attempts: int = 3
    """How many times the message is sent at most, the first send included."""
    initial_interval: float = 1.0
    """Seconds waited after the first send before the next one."""
    backoff_coefficient: float = 2.0
    """Each wait is this many times the previous one."""
    maximum_interval: Union[float, None] = None  # noqa: UP007
    """The longest wait between two sends, in seconds (``None``: no bound)."""
    retryable_statuses: tuple[int, ...] = field(default=())
    """Reply statuses that count as no answer, so the message is sent again (empty: none)."""

    def __post_init__(self) -> None:
        if isinstance(self.maximum_attempts, bool) or not isinstance(self.maximum_attempts, int):
            raise TypeError(f"maximum_attempts must be an int. Obtained: {self.maximum_attempts!r}")
        if self.maximum_attempts < 1:
            raise ValueError(f"maximum_attempts must be at least 1. Obtained: {self.maximum_attempts!r}")
        object.__setattr__(self, "initial_interval", as_seconds(self.initial_interval, "initial_interval", zero=True))
        if not isinstance(self.backoff_coefficient, (int, float)) or self.backoff_coefficient < 1:
            raise ValueError(f"backoff_coefficient must be a number >= 1. Obtained: {self.backoff_coefficient!r}")
        if self.maximum_interval is not None:
            maximum = as_seconds(self.maximum_interval, "maximum_interval", zero=True)
            if maximum < self.initial_interval:
                raise ValueError(f"maximum_interval must not be below initial_interval. Obtained: {maximum!r}")
            object.__setattr__(self, "maximum_interval", maximum)
        object.__setattr__(self, "retryable_statuses", tuple(int(status) for status in self.retryable_statuses))

    def interval(self, attempts: int) -> float:
        """Seconds to wait before sending again after ``attempts`` sends (0 once no attempt remains)."""
        if attempts >= self.maximum_attempts:
            return 0.0
        interval = self.initial_interval * self.backoff_coefficient ** (attempts - 1)
        return interval if self.maximum_interval is None else min(interval, self.maximum_interval)

    @property
    def raw(self) -> dict[str, Any]:
        """The policy as a raw document, as stored with its step."""
        return {
            "maximum_attempts": self.maximum_attempts,
            "initial_interval": self.initial_interval,
            "backoff_coefficient": self.backoff_coefficient,
            "maximum_interval": self.maximum_interval,
            "retryable_statuses": list(self.retryable_statuses),
        }

    @classmethod
    def from_raw(cls, raw: Any) -> RetryPolicy:
        """Build a policy from a raw document; a malformed one raises ``SagaDefinitionFormatException``."""
        if not isinstance(raw, dict):
            raise SagaDefinitionFormatException(f"A raw retry policy must be a dict. Obtained: {raw!r}")
        try:
            return cls(**{**raw, "retryable_statuses": tuple(raw.get("retryable_statuses", ()))})
        except (TypeError, ValueError) as exc:
            raise SagaDefinitionFormatException(f"The raw retry policy is not valid: {exc}") from exc


def as_seconds(value: Any, name: str, *, zero: bool = False) -> float:
    """``value`` (seconds or a ``timedelta``) as positive seconds (or zero, when ``zero`` allows it)."""
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be seconds or a timedelta. Obtained: {value!r}")
    if value < 0 or (value == 0 and not zero):
        raise ValueError(f"{name} must be {'non-negative' if zero else 'positive'}. Obtained: {value!r}")
    return float(value)


NO_RETRY = RetryPolicy(maximum_attempts=1)
"""A step with a ``timeout`` and no ``retry(...)``: its request is sent once."""
