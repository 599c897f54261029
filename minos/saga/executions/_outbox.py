"""The outbox of an execution: messages stored with the state that awaits their answers, published afterwards.

``SagaManager`` runs steps with a :class:`CollectingPublisher`, stores the execution together with what it
collected, then publishes each message and records that it did. A crash in between leaves the message in the stored
document, where ``SagaManager.recover()`` finds it and publishes it again with the same identifier, so participants
can recognise a duplicate.
"""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from minos.networks import BrokerMessage, BrokerMessageV1, BrokerPublisher

from ..definitions.retries import RetryPolicy


class PendingMessage:
    """A message to publish, stored in the execution document until its purpose is served.

    ``sent_at`` is when it was last confirmed published (``None``: never), ``attempts`` how many times it was
    published, and ``expires_at`` when the wait for its answer ends (``None``: never; set from the step's reply
    timeout, or to the time a retryable reply arrived).

    A compensation request whose reply is awaited carries its ``compensation`` policy (attempts and backoff) and
    ``compensation_timeout`` (seconds each attempt waits; ``None``: without limit); other messages carry neither.
    """

    __slots__ = (
        "sent_at",
        "attempts",
        "expires_at",
        "compensation",
        "compensation_timeout",
        "_message",
        "_encoded",
        "_identifier",
    )

    def __init__(
        self,
        message: BrokerMessage,
        sent_at: datetime | None = None,
        attempts: int = 0,
        expires_at: datetime | None = None,
    ):
        self.sent_at = sent_at
        self.attempts = attempts
        self.expires_at = expires_at
        self.compensation: RetryPolicy | None = None
        self.compensation_timeout: float | None = None
        # minos' generic avro codec costs milliseconds per message, and an execution is loaded and stored at every
        # step with the same messages: each is encoded once, and a stored one is decoded only when it is published.
        self._message: BrokerMessage | None = message
        self._encoded: str | None = None
        self._identifier: UUID = message.identifier

    @property
    def message(self) -> BrokerMessage:
        if self._message is None:
            assert self._encoded is not None  # one of the two is always set
            self._message = BrokerMessageV1.from_avro_bytes(base64.b64decode(self._encoded))
        return self._message

    @property
    def identifier(self) -> UUID:
        return self._identifier

    @property
    def sent(self) -> bool:
        return self.sent_at is not None

    def mark_sent(self, at: datetime, reply_timeout: float | None = None) -> None:
        """Record one more confirmed publication ``at`` that time; its answer is awaited for ``reply_timeout``
        seconds (``None``: without limit)."""
        self.sent_at = at
        self.attempts += 1
        self.expires_at = None if reply_timeout is None else at + timedelta(seconds=reply_timeout)

    @property
    def raw(self) -> dict[str, Any]:
        raw: dict[str, Any] = {
            "message": self._encoded_message(),
            "identifier": str(self._identifier),
            "sent_at": None if self.sent_at is None else self.sent_at.isoformat(),
            "attempts": self.attempts,
        }
        if self.expires_at is not None:
            raw["expires_at"] = self.expires_at.isoformat()
        if self.compensation is not None:
            raw["compensation"] = {"retry": self.compensation.raw, "timeout": self.compensation_timeout}
        return raw

    def _encoded_message(self) -> str:
        if self._encoded is None:
            self._encoded = base64.b64encode(self.message.avro_bytes).decode("ascii")
        return self._encoded

    @classmethod
    def from_raw(cls, raw: dict[str, Any]) -> PendingMessage:
        """Read a record written by :attr:`raw` (the message keeps its identifier; it is decoded when used)."""
        sent_at, expires_at = raw.get("sent_at"), raw.get("expires_at")
        pending = cls.__new__(cls)
        pending.sent_at = None if sent_at is None else datetime.fromisoformat(sent_at)
        pending.attempts = int(raw.get("attempts", 0))
        pending.expires_at = None if expires_at is None else datetime.fromisoformat(expires_at)
        compensation = raw.get("compensation")
        pending.compensation = None if compensation is None else RetryPolicy.from_raw(compensation["retry"])
        pending.compensation_timeout = None if compensation is None else compensation["timeout"]
        pending._message, pending._encoded = None, raw["message"]
        identifier = raw.get("identifier")  # records written before it was kept beside the message lack it
        pending._identifier = pending.message.identifier if identifier is None else UUID(identifier)
        return pending

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message.topic!r}, {self.identifier}, sent_at={self.sent_at!r})"


class CollectingPublisher(BrokerPublisher):
    """A publisher that only collects: the manager stores what it collected before anything is published."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.messages: list[BrokerMessage] = []

    async def _send(self, message: BrokerMessage) -> None:
        self.messages.append(message)
