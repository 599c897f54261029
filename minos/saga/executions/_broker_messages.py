"""Builds the broker messages the engine publishes without re-validating values it produced itself.

A ``BrokerMessageV1`` built through its constructor runs minos' type decoder on every field (and on the nested
payload), which costs more than the rest of a remote step. The engine's messages hold values whose types are known
(strings, uuids, the request content as given), so the fields are built directly with the declared types
(``_minos_internals.build_model``). The result is an ordinary ``BrokerMessageV1``: equal to, and serialised like, one
built by the constructor.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from minos.networks import (
    REQUEST_REPLY_TOPIC_CONTEXT_VAR,
    BrokerMessageV1,
    BrokerMessageV1Payload,
    BrokerMessageV1Status,
    BrokerMessageV1Strategy,
)

from .._minos_internals import build_model
from .._random_uuids import uuid4
from ..interceptors import intercept_headers


def saga_reply_topic(service_name: str) -> str:
    """Where participants answer the engine's requests: the waiting broker client's topic when one is waiting
    (``REQUEST_REPLY_TOPIC_CONTEXT_VAR``), else the ``{service_name}Reply`` topic ``SagaService`` consumes."""
    return REQUEST_REPLY_TOPIC_CONTEXT_VAR.get() or f"{service_name}Reply"


def build_message(
    topic: str,
    content: Any,
    headers: dict[str, str] | None = None,
    reply_topic: str | None = None,
    identifier: UUID | None = None,
) -> BrokerMessageV1:
    """A unicast ``BrokerMessageV1`` with a successful payload (headers as the active interceptors leave them)."""
    return message_of(
        topic,
        content,
        intercept_headers({} if headers is None else headers),
        reply_topic,
        uuid4() if identifier is None else identifier,
    )


def message_of(
    topic: str,
    content: Any,
    headers: dict[str, str],
    reply_topic: str | None,
    identifier: UUID,
    status: BrokerMessageV1Status = BrokerMessageV1Status.SUCCESS,
    strategy: BrokerMessageV1Strategy = BrokerMessageV1Strategy.UNICAST,
) -> BrokerMessageV1:
    """A ``BrokerMessageV1`` with exactly these fields (no interceptor runs): what ``build_message`` builds, and how
    a message stored by its fields is rebuilt."""
    payload = build_model(BrokerMessageV1Payload, content=content, status=status, headers=headers)
    return build_model(
        BrokerMessageV1,
        topic=topic,
        identifier=identifier,
        reply_topic=reply_topic,
        strategy=strategy,
        payload=payload,
    )
