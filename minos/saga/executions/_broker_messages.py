"""Builds the broker messages the engine publishes without re-validating values it produced itself.

A ``BrokerMessageV1`` built through its constructor runs minos' type decoder on every field (and on the nested
payload), which costs more than the rest of a remote step. The engine's messages hold values whose types are known
(strings, uuids, the request content as given), so the fields are built directly with the declared types. The
result is an ordinary ``BrokerMessageV1``: equal to, and serialised like, one built by the constructor.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any
from uuid import UUID, uuid4

from minos.common import Field, Model
from minos.networks import (
    REQUEST_REPLY_TOPIC_CONTEXT_VAR,
    BrokerMessageV1,
    BrokerMessageV1Payload,
    BrokerMessageV1Status,
    BrokerMessageV1Strategy,
    BrokerPublisher,
)

from ..interceptors import intercept_headers
from ._dependencies import dependencies

_PUBLISHER_LOGGER = logging.getLogger(BrokerPublisher.__module__)  # the logger ``BrokerPublisher.send`` writes to


async def publish(publisher: BrokerPublisher, message: BrokerMessageV1) -> None:
    """Send ``message`` through ``publisher``.

    minos' ``BrokerPublisher.send`` formats ``repr(message)`` for a debug line before handing the message to
    ``_send``, even when that line is dropped, and the repr costs as much as building the message. So when the
    publisher keeps minos' ``send`` and its logger would drop the line, the message goes to ``_send`` directly;
    otherwise (debug logging on, or a publisher with its own ``send``) through ``send`` as usual."""
    if getattr(publisher.send, "__func__", None) is BrokerPublisher.send and not _PUBLISHER_LOGGER.isEnabledFor(
        logging.DEBUG
    ):
        await publisher._send(message)
    else:
        await publisher.send(message)


def saga_reply_topic() -> str:
    """Where participants answer the engine's requests: the waiting broker client's topic when one is waiting
    (``REQUEST_REPLY_TOPIC_CONTEXT_VAR``), else the ``{service}Reply`` topic ``SagaService`` consumes."""
    return REQUEST_REPLY_TOPIC_CONTEXT_VAR.get() or f"{dependencies().service_name}Reply"


@cache
def _declared_types(model_cls: Any) -> dict[str, Any]:
    return dict(model_cls._type_hints())


def _build(model_cls: Any, **values: Any) -> Any:
    model = object.__new__(model_cls)
    fields = {}
    for name, type_ in _declared_types(model_cls).items():
        field = Field.__new__(Field)
        field._name, field._type, field._value = name, type_, values[name]
        field._parser = field._validator = None
        fields[name] = field
    Model.__init__(model, fields)
    return model


def build_message(
    topic: str,
    content: Any,
    headers: dict[str, str] | None = None,
    reply_topic: str | None = None,
    identifier: UUID | None = None,
) -> BrokerMessageV1:
    """A unicast ``BrokerMessageV1`` with a successful payload (headers as the active interceptors leave them)."""
    payload = _build(
        BrokerMessageV1Payload,
        content=content,
        status=BrokerMessageV1Status.SUCCESS,
        headers=intercept_headers({} if headers is None else headers),
    )
    return _build(
        BrokerMessageV1,
        topic=topic,
        identifier=uuid4() if identifier is None else identifier,
        reply_topic=reply_topic,
        strategy=BrokerMessageV1Strategy.UNICAST,
        payload=payload,
    )
