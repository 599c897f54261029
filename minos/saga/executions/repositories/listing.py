"""Listing and purging stored executions: capability interfaces every listable repository implements the same way.

A repository that can list executions implements :class:`SagaExecutionLister` (and usually
:class:`SagaExecutionPurger`); code that needs listing checks ``isinstance(repository, SagaExecutionLister)``.
The arguments are checked here, once, by :class:`SagaExecutionQuery`, so every repository accepts and refuses the
same things, and nothing unchecked reaches a database driver.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any, List, Union
from uuid import UUID

from ..status import SagaStatus

MAX_LIST_LIMIT = 1000
"""The largest page :meth:`SagaExecutionLister.list` returns."""


def saga_name(raw_definition: Any) -> str | None:
    """The name listings show for a saga definition: the import path of its first step's ``on_execute`` callback
    (definitions have no name of their own), or ``None`` when the first step has none (a conditional step)."""
    try:
        callback = raw_definition["steps"][0]["on_execute"]["callback"]
    except (KeyError, IndexError, TypeError):
        return None
    return callback if isinstance(callback, str) else None


@dataclass(frozen=True)
class SagaExecutionCursor:
    """Where a page of a listing ended: the ``(updated_at, uuid)`` of its last summary. The next page starts after
    it (keyset paging: pages stay consistent while executions are stored or deleted, unlike offsets)."""

    updated_at: datetime
    """When the last listed execution was stored."""
    uuid: UUID
    """The last listed execution's uuid (ties on ``updated_at``)."""

    def __str__(self) -> str:
        return f"{self.updated_at.isoformat()}/{self.uuid}"

    @classmethod
    def parse(cls, text: str) -> SagaExecutionCursor:
        """The cursor ``str(cursor)`` printed; ``ValueError`` if ``text`` is not one."""
        updated_at, separator, uuid = text.rpartition("/")
        if not separator:
            raise ValueError(f"A listing cursor looks like '<ISO timestamp>/<uuid>'. Obtained: {text!r}")
        return cls(_aware(datetime.fromisoformat(updated_at), "the cursor's timestamp"), UUID(uuid))


@dataclass(frozen=True)
class SagaExecutionSummary:
    """One stored execution as listings show it, read without loading the whole document.

    ``saga`` is :func:`saga_name` of its definition; ``step`` counts its executed steps out of ``steps``;
    ``compensations_stalled`` tells a compensation ran out of attempts (an operator's ``retry`` sends it again).
    """

    uuid: UUID
    """The execution's uuid."""
    status: SagaStatus
    """Where the execution stands."""
    user: UUID | None
    """The user that ran it (``None``: none)."""
    updated_at: datetime
    """When it was last stored."""
    saga: str | None = None
    """Its saga: the first step's callback path (``None`` when unknown)."""
    step: int = 0
    """How many of its steps have run."""
    steps: int = 0
    """How many steps its saga has."""
    created_at: datetime | None = None
    """When it was first stored (``None`` when the repository does not know)."""
    compensations_stalled: bool = False
    """A compensation ran out of attempts: it waits for an operator's ``retry``."""

    @property
    def cursor(self) -> SagaExecutionCursor:
        """The cursor to pass as ``after`` for the page that follows this summary."""
        return SagaExecutionCursor(self.updated_at, self.uuid)

    @classmethod
    def from_raw(
        cls, raw: dict[str, Any], updated_at: datetime, created_at: datetime | None = None
    ) -> SagaExecutionSummary:
        """The summary of a raw execution document stored at ``updated_at``."""
        user = raw.get("user")
        definition = raw.get("definition")
        steps = definition.get("steps", ()) if isinstance(definition, dict) else ()
        return cls(
            UUID(str(raw["uuid"])),
            SagaStatus.from_raw(raw["status"]),
            None if user is None else UUID(str(user)),
            updated_at,
            saga_name(definition),
            len(raw.get("executed_steps") or ()),
            len(steps),
            created_at,
            bool((raw.get("orchestrator") or {}).get("compensations_stalled", False)),
        )

    @property
    def json(self) -> dict[str, Any]:
        """A JSON-ready dict (what ``minos-saga list --json`` prints)."""
        return {
            "uuid": str(self.uuid),
            "status": self.status.raw,
            "saga": self.saga,
            "step": self.step,
            "steps": self.steps,
            "user": None if self.user is None else str(self.user),
            "created_at": None if self.created_at is None else self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "cursor": str(self.cursor),
        } | ({"compensations_stalled": True} if self.compensations_stalled else {})


@dataclass(frozen=True)
class SagaExecutionQuery:
    """The checked arguments of a listing. Building one validates and normalises them, with the same rules for
    every repository: a wrong type raises ``TypeError``, a wrong value (unknown status, naive datetime, empty saga
    name, a limit outside ``1..MAX_LIST_LIMIT``) raises ``ValueError``."""

    status: SagaStatus | None = None
    """Only executions with this status."""
    user: UUID | None = None
    """Only executions run by this user."""
    saga: str | None = None
    """Only executions of this saga: its first step's callback path, or the last part of it."""
    updated_before: datetime | None = None
    """Only executions last stored before this time."""
    updated_after: datetime | None = None
    """Only executions last stored at or after this time."""
    after: SagaExecutionCursor | None = None
    """Only executions after this cursor (the next page)."""
    limit: int = 100
    """At most this many executions (1 to 1000)."""
    uuid: UUID | None = None
    """Only the execution with this uuid."""
    compensations_stalled: bool | None = None
    """Only executions whose compensations stalled (``True``) or did not (``False``); ``None``: both."""

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "status", _status(self.status))
        set_(self, "user", _uuid(self.user, "user"))
        set_(self, "uuid", _uuid(self.uuid, "uuid"))
        if self.saga is not None and not isinstance(self.saga, str):
            raise TypeError(f"saga must be a str. Obtained: {self.saga!r}")
        if self.saga is not None and not self.saga.strip():
            raise ValueError("saga must not be empty.")
        if self.compensations_stalled is not None and not isinstance(self.compensations_stalled, bool):
            raise TypeError(f"compensations_stalled must be a bool. Obtained: {self.compensations_stalled!r}")
        for name in ("updated_before", "updated_after"):
            value = getattr(self, name)
            if value is not None:
                if not isinstance(value, datetime):
                    raise TypeError(f"{name} must be a datetime. Obtained: {value!r}")
                _aware(value, name)
        set_(self, "after", _cursor(self.after))
        if isinstance(self.limit, bool) or not isinstance(self.limit, int):
            raise TypeError(f"limit must be an int. Obtained: {self.limit!r}")
        if not 1 <= self.limit <= MAX_LIST_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_LIST_LIMIT}. Obtained: {self.limit}")

    def matches(self, summary: SagaExecutionSummary) -> bool:
        """Whether ``summary`` passes every filter and comes after the cursor (the reference semantics; SQL
        repositories express the same conditions in their queries)."""
        return (
            (self.uuid is None or summary.uuid == self.uuid)
            and (self.status is None or summary.status == self.status)
            and (self.user is None or summary.user == self.user)
            and (self.saga is None or _saga_matches(summary.saga, self.saga))
            and (self.compensations_stalled is None or summary.compensations_stalled == self.compensations_stalled)
            and (self.updated_before is None or summary.updated_at < self.updated_before)
            and (self.updated_after is None or summary.updated_at > self.updated_after)
            and (self.after is None or (summary.updated_at, summary.uuid) > (self.after.updated_at, self.after.uuid))
        )


class SagaExecutionLister(ABC):
    """Capability: list stored executions by status, user, saga, age and stalled compensations, a page at a time."""

    async def list(
        self,
        *,
        status: Union[SagaStatus, str, None] = None,
        user: Union[UUID, str, None] = None,
        saga: str | None = None,
        updated_before: datetime | None = None,
        updated_after: datetime | None = None,
        after: Union[SagaExecutionCursor, str, None] = None,
        limit: int = 100,
        uuid: Union[UUID, str, None] = None,
        compensations_stalled: bool | None = None,
    ) -> list[SagaExecutionSummary]:
        """Summaries of the executions matching every given filter, ordered by ``(updated_at, uuid)``, starting
        after the ``after`` cursor, at most ``limit`` of them. ``uuid`` selects one execution; ``saga`` matches a
        saga's full name or its last dotted part; ``compensations_stalled=True`` selects the executions whose
        compensations ran out of attempts (they wait for an operator). Arguments are checked by
        :class:`SagaExecutionQuery`."""
        arguments: dict[str, Any] = dict(status=status, user=user, saga=saga, after=after, limit=limit, uuid=uuid)
        arguments["compensations_stalled"] = compensations_stalled
        query = SagaExecutionQuery(updated_before=updated_before, updated_after=updated_after, **arguments)
        return await self._list(query)

    @abstractmethod
    async def _list(self, query: SagaExecutionQuery) -> List[SagaExecutionSummary]:  # ``list`` is the method here
        """The page of summaries ``query`` selects, in ``(updated_at, uuid)`` order."""


class SagaExecutionPurger(ABC):
    """Capability: delete the executions of one status last stored before a time (history retention)."""

    async def purge(self, *, status: Union[SagaStatus, str], updated_before: datetime) -> int:
        """Delete the executions in ``status`` last stored before ``updated_before``; return how many."""
        arguments: dict[str, Any] = dict(status=status, updated_before=updated_before)
        query = SagaExecutionQuery(**arguments)
        if query.status is None or query.updated_before is None:
            raise TypeError("purge() needs a status and an updated_before datetime.")
        return await self._purge(query.status, query.updated_before)

    @abstractmethod
    async def _purge(self, status: SagaStatus, updated_before: datetime) -> int:
        """Delete the matching executions; return how many."""


def _saga_matches(name: str | None, wanted: str) -> bool:
    return name is not None and (name == wanted or name.endswith(f".{wanted}"))


def _status(value: Any) -> SagaStatus | None:
    if value is None or isinstance(value, SagaStatus):
        return value
    if not isinstance(value, str):
        raise TypeError(f"status must be a SagaStatus or its raw name. Obtained: {value!r}")
    try:
        return SagaStatus.from_raw(value)
    except ValueError:
        names = ", ".join(status.raw for status in SagaStatus)
        raise ValueError(f"Unknown saga status {value!r}; one of: {names}.") from None


def _uuid(value: Any, name: str) -> UUID | None:
    if value is None or isinstance(value, UUID):
        return value
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a UUID. Obtained: {value!r}")
    try:
        return UUID(value)
    except ValueError:
        raise ValueError(f"{name} must be a UUID. Obtained: {value!r}") from None


def _cursor(value: Any) -> SagaExecutionCursor | None:
    if value is None or isinstance(value, SagaExecutionCursor):
        return value
    if isinstance(value, SagaExecutionSummary):
        return value.cursor
    if not isinstance(value, str):
        raise TypeError(f"after must be a SagaExecutionCursor or its text. Obtained: {value!r}")
    return SagaExecutionCursor.parse(value)


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware. Obtained: {value!r}")
    return value
