"""Repairs minos 0.7's broker messages on Python 3.13.

minos 0.7 declares ``BrokerMessage.version`` as a ``classmethod`` wrapping a ``property``, a combination Python 3.13
removed: the attribute reads as a method, so every ``message.avro_bytes`` fails and no message can be serialised
(the outbox, minos' own queues and brokers). Importing ``minos.saga`` replaces that attribute with a descriptor that
reads the same value on the class and on its instances. On older Pythons nothing changes.

"""

from __future__ import annotations

from types import MethodType
from typing import Any, Callable

from minos.networks import BrokerMessage, BrokerMessageV1


class _ClassProperty:
    """A read-only attribute computed from the class, on the class and on its instances."""

    def __init__(self, fget: Callable[[type], Any]):
        self.fget = fget

    def __get__(self, instance: Any, owner: type) -> Any:
        return self.fget(owner)


def repair_message_versions() -> None:
    """Make ``version`` readable again on every minos message class that declares it the removed way."""
    for message_cls in (BrokerMessage, BrokerMessageV1):
        declared = vars(message_cls).get("version")
        if not (isinstance(declared, classmethod) and isinstance(declared.__func__, property)):
            continue
        if isinstance(message_cls.version, MethodType):  # Python 3.13+: the property is not applied
            message_cls.version = _ClassProperty(declared.__func__.fget)


repair_message_versions()
