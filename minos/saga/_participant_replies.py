"""What a participant's barrier records and answers: the outcome and reply of each request, the refusals, and the
identity of a request (its saga and message)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any
from uuid import UUID

from minos.networks import REQUEST_HEADERS_CONTEXT_VAR, BrokerRequest, Response, ResponseException


class ParticipantRequestException(ResponseException):
    """The request cannot be handled idempotently: it is not a broker request or lacks a valid ``saga`` header
    (only requests a saga sends carry one). Answered with status 400."""


class HangingRequestException(ResponseException):
    """The action arrived after its compensation (which was acknowledged without work): it is refused, so nothing is
    left done that no compensation will undo. Answered with status 400."""


class ParticipantConflictException(ResponseException):
    """The saga already sent this operation in another message: one action and one compensation per operation name
    and saga. Answered with status 400."""


class ParticipantOutcome(str, Enum):
    """What became of a request, as its record says."""

    DONE = "done"
    """The handler ran and its work was committed with the record; the reply is its answer."""
    REFUSED = "refused"
    """The handler raised a ``ResponseException``: its work was rolled back and the refusal is the reply."""
    PREVENTED = "prevented"
    """(Actions) the compensation came first: the action is refused whenever it arrives."""
    SKIPPED = "skipped"
    """(Compensations) the action was prevented or refused: acknowledged without running the handler."""


@dataclass(frozen=True)
class ParticipantReply:
    """A recorded reply, as minos' dispatcher sends it: status, content and headers."""

    status: int
    """The reply's status."""
    content: Any
    """The reply's content."""
    headers: dict[str, str]
    """The reply's headers."""


@dataclass(frozen=True)
class ParticipantRecord:
    """The record of one half (action or compensation) of an operation in a saga."""

    request: UUID
    """The identifier of the message that wrote it (for a prevented action: the compensation's)."""
    outcome: ParticipantOutcome
    """How the request ended (done, failed, prevented...)."""
    reply: ParticipantReply | None
    """``None`` for a prevented action (there is no reply until the action arrives; then it is refused)."""


def _identity(request: Any) -> tuple[UUID, UUID]:
    if not isinstance(request, BrokerRequest):
        raise ParticipantRequestException(f"@idempotent handles broker requests only. Obtained: {request!r}")
    raw_saga = request.headers.get("saga")
    if not raw_saga:
        raise ParticipantRequestException(f"The request has no 'saga' header (only sagas send it): {request!r}")
    try:
        saga = UUID(raw_saga)
    except ValueError:
        raise ParticipantRequestException(f"The 'saga' header is not a uuid: {raw_saga!r}") from None
    return saga, request.raw.identifier


def _headers() -> dict[str, str]:
    return dict(REQUEST_HEADERS_CONTEXT_VAR.get() or {})


def _reply(status: int, content: Any) -> ParticipantReply:
    return ParticipantReply(int(status), content, _headers())


def _answer(
    recorded: ParticipantRecord | None, identifier: UUID, saga: UUID, operation: str
) -> Response | ResponseException:
    assert recorded is not None  # a claim that failed found a committed row
    if recorded.outcome is ParticipantOutcome.PREVENTED:
        return HangingRequestException(
            f"The {operation!r} action of saga {saga} arrived after its compensation: refused."
        )
    if recorded.request != identifier or recorded.reply is None:
        return ParticipantConflictException(
            f"The {operation!r} operation of saga {saga} was already handled for message {recorded.request}, "
            f"not {identifier}: one action and one compensation per operation and saga."
        )
    headers = REQUEST_HEADERS_CONTEXT_VAR.get()
    if headers is not None:
        headers.clear()
        headers.update(recorded.reply.headers)
    return Response(recorded.reply.content, status=recorded.reply.status)
