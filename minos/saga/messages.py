"""The messages a saga exchanges with remote participants: requests it sends and the replies it resumes with."""

from __future__ import annotations

from enum import IntEnum
from typing import Any, Union
from uuid import UUID

from minos.networks import BrokerMessage

from ._header_lists import header_list
from .exceptions import SagaResponseException, SagaResponseStatusException


class SagaRequest:
    """A command for a remote participant: ``target`` is the broker topic, ``content`` its payload."""

    __slots__ = ("_target", "_content")

    def __init__(self, target: str, content: Any = None):
        self._target = target
        self._content = content

    @property
    def target(self) -> str:
        """The topic (the participant's command) the request is sent to."""
        return self._target

    async def content(self, **kwargs: Any) -> Any:
        """The payload sent with the request."""
        return self._content

    def __eq__(self, other: Any) -> bool:
        return type(self) is type(other) and (self._target, self._content) == (other._target, other._content)

    def __hash__(self) -> int:
        return hash((type(self), self._target, self._content))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._target!r}, {self._content!r})"


class SagaResponseStatus(IntEnum):
    """The status of a participant's reply."""

    SUCCESS = 200
    """The participant did what was asked: ``on_success`` runs."""
    ERROR = 400
    """The participant refused (a business error): ``on_error`` runs, or the step fails."""
    SYSTEM_ERROR = 500
    """The participant failed: the step fails and the saga compensates."""

    @classmethod
    def from_raw(cls, raw: int) -> SagaResponseStatus:
        """Map a broker status to a reply status; anything but 200/400/500 is rejected."""
        try:
            return cls(raw)
        except ValueError:
            raise SagaResponseStatusException(
                f"A saga response status must be one of {[int(status) for status in cls]}. Obtained: {raw!r}"
            ) from None


class SagaResponse:
    """A participant's reply to a :class:`SagaRequest`.

    ``uuid`` names the execution it answers and ``related_services`` the services that took part. The optional
    ``request_id`` keyword is the identifier of the request it answers: minos' dispatcher gives a reply the
    identifier of the request message, and ``from_message`` reads it. It lets the engine ignore duplicated or late
    replies. Replies without it (built by hand) apply as in 0.7.0.
    """

    __slots__ = ("_content", "_related_services", "_status", "_uuid", "_request_id")

    def __init__(
        self,
        content: Any = None,
        related_services: set[str] | None = None,
        status: Union[int, SagaResponseStatus] | None = None,
        uuid: UUID | None = None,
        *args: Any,
        **kwargs: Any,
    ):
        self._content = content
        self._related_services = set(related_services) if related_services is not None else set()
        self._status = SagaResponseStatus.SUCCESS if status is None else SagaResponseStatus.from_raw(status)
        self._uuid = uuid
        self._request_id: UUID | None = kwargs.get("request_id")

    @classmethod
    def from_message(cls, message: BrokerMessage) -> SagaResponse:
        """Read a reply from the broker: the ``saga`` header names the execution, ``related_services`` is a list and
        the message identifier is the one of the request it answers."""
        headers = message.headers
        related_services = set(header_list(headers, "related_services"))
        uuid = _uuid_header(headers, "saga")
        return cls(message.content, related_services, message.status, uuid, request_id=message.identifier)

    async def content(self, **kwargs: Any) -> Any:
        """The payload of the reply."""
        return self._content

    @property
    def ok(self) -> bool:
        """Whether the participant succeeded (a success status): decides between ``on_success`` and ``on_error``."""
        return self._status == SagaResponseStatus.SUCCESS

    @property
    def status(self) -> SagaResponseStatus:
        """The reply's status, as the participant's dispatcher set it."""
        return self._status

    @property
    def related_services(self) -> set[str]:
        """The services that took part in answering, which the saga's commit must reach."""
        return self._related_services

    @property
    def uuid(self) -> UUID | None:
        """The uuid of the execution the reply answers."""
        return self._uuid

    @property
    def request_id(self) -> UUID | None:
        """The identifier of the request the reply answers, so a late or duplicate reply can be told apart."""
        return self._request_id

    def __eq__(self, other: Any) -> bool:
        return type(self) is type(other) and all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    def __hash__(self) -> int:
        return hash((type(self), self._content, frozenset(self._related_services), self._status, self._uuid))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._content!r}, {self._status!r}, {self._related_services!r}, {self._uuid!r})"


def _uuid_header(headers: dict[str, str], name: str) -> UUID | None:
    if not (value := headers.get(name)):
        return None
    try:
        return UUID(value)
    except ValueError:
        raise SagaResponseException(
            f"The {name!r} header of a saga reply must be a uuid. Obtained: {value!r}"
        ) from None
