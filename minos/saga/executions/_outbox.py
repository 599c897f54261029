"""The outbox of an execution: messages stored with the state that awaits their answers, published afterwards.

``SagaManager`` runs steps with a :class:`CollectingPublisher`, stores the execution together with what it
collected, then publishes each message and records that it did. A crash in between leaves the message in the stored
document, where ``SagaManager.recover()`` finds it and publishes it again with the same identifier, so participants
can recognise a duplicate.
"""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from typing import Any, Union
from uuid import UUID

from minos.networks import (
    BrokerMessage,
    BrokerMessageV1,
    BrokerMessageV1Payload,
    BrokerMessageV1Status,
    BrokerMessageV1Strategy,
    BrokerPublisher,
)

from .. import _context_avro
from ..definitions.retries import RetryPolicy
from ._broker_messages import message_of


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
        "_stored",
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
        # An execution is loaded and stored at every step with the same messages: each is encoded once (see
        # ``_stored_form``), and a stored one is decoded only when it is published.
        self._message: BrokerMessage | None = message
        self._stored: Union[str, dict[str, Any], None] = None
        self._identifier: UUID = message.identifier

    @property
    def message(self) -> BrokerMessage:
        if self._message is None:
            assert self._stored is not None  # one of the two is always set
            self._message = _message_from_stored(self._stored, self._identifier)
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
        stored = self._stored_form()
        raw: dict[str, Any] = {
            "message": stored if isinstance(stored, str) else stored | {"headers": dict(stored["headers"])},
            "identifier": str(self._identifier),
            "sent_at": None if self.sent_at is None else self.sent_at.isoformat(),
            "attempts": self.attempts,
        }
        if self.expires_at is not None:
            raw["expires_at"] = self.expires_at.isoformat()
        if self.compensation is not None:
            raw["compensation"] = {"retry": self.compensation.raw, "timeout": self.compensation_timeout}
        return raw

    def _stored_form(self) -> Union[str, dict[str, Any]]:
        if self._stored is None:
            self._stored = _message_fields(self.message) or base64.b64encode(self.message.avro_bytes).decode("ascii")
        return self._stored

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
        stored = raw["message"]
        pending._message, pending._stored = None, stored if isinstance(stored, str) else dict(stored)
        identifier = raw.get("identifier")  # records written before it was kept beside the message lack it
        pending._identifier = pending.message.identifier if identifier is None else UUID(identifier)
        return pending

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message.topic!r}, {self.identifier}, sent_at={self.sent_at!r})"


def _message_fields(message: BrokerMessage) -> dict[str, Any] | None:
    """The fields of a ``BrokerMessageV1`` as JSON values, its content as an avro string of the fast context codec
    (minos' generic avro encoding of a whole message costs a quarter of a millisecond); ``None`` for any other
    message, or a content that codec cannot hold, which is then stored as minos' avro of the whole message."""
    if type(message) is not BrokerMessageV1 or type(payload := message.payload) is not BrokerMessageV1Payload:
        return None
    headers = payload.headers
    if not all(type(key) is str and type(value) is str for key, value in headers.items()):
        return None
    if (content := _context_avro.encode({"content": payload.content})) is None:
        return None
    return {
        "topic": message.topic,
        "reply_topic": message.reply_topic,
        "strategy": message.strategy.value,
        "status": int(payload.status),
        "headers": dict(headers),
        "content": content,
    }


def _message_from_stored(stored: Union[str, dict[str, Any]], identifier: UUID) -> BrokerMessage:
    """The message of an outbox record: minos' avro of the whole message, or its fields (see ``_message_fields``)."""
    if isinstance(stored, str):
        return BrokerMessageV1.from_avro_bytes(base64.b64decode(stored))
    if (content := _context_avro.decode(stored["content"])) is None:
        raise ValueError(f"The stored content of the {identifier} message is not one this package writes.")
    return message_of(
        stored["topic"],
        content["content"],
        dict(stored["headers"]),
        stored["reply_topic"],
        identifier,
        BrokerMessageV1Status(stored["status"]),
        BrokerMessageV1Strategy(stored["strategy"]),
    )


class CollectingPublisher(BrokerPublisher):
    """A publisher that only collects: the manager stores what it collected before anything is published."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.messages: list[BrokerMessage] = []

    async def _send(self, message: BrokerMessage) -> None:
        self.messages.append(message)
