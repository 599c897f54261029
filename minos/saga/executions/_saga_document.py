"""The stored document of an execution: the format of its metadata, the checks on the text stored, the queries on
raw documents repositories make, and reading its parts back (written by this package or by 0.7.0)."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Union
from uuid import UUID

from .._bounded import BoundedCache
from ..context import SagaContext
from ..definitions import Saga, SagaStep
from ..exceptions import (
    SagaDefinitionFormatException,
    SagaExecutionFormatException,
    SagaExecutionNotStorableException,
)
from ..utils import import_subclass
from ._document_text import document_text, remember_step_text, step_from_text
from .executors.abc import context_copy
from .status import SagaStepStatus
from .steps import SagaStepExecution

if TYPE_CHECKING:
    from .saga import SagaExecution

METADATA_KEY = "orchestrator"
"""The top-level key of a raw execution document holding what only this package needs (the request a paused step
awaits, messages not yet published). 0.7.0 ignores unknown top-level keys, so documents stay readable by it; the
key is written only while there is something in it."""

FORMAT_VERSION = 3
"""The format of the ``orchestrator`` metadata, stored with it. 0.7.0 documents carry none and load as version 1;
version 3 may store an outbox message by its fields (version 2 always held minos' avro of it), and reads both."""


_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")  # an escaped NUL in JSON text (not an escaped backslash + "u0000")


def storable_document(execution: SagaExecution) -> str:
    """The JSON text of the raw document of ``execution``, checked to be storable as is: every value serialisable
    (contexts are avro-encoded), UTF-8 encodable (no lone surrogates) and free of NUL characters, which PostgreSQL's
    ``jsonb`` and ``text`` refuse. Raises ``SagaExecutionNotStorableException`` otherwise.

    It equals ``json.dumps(execution.raw, ensure_ascii=False)``, built from the text of the parts that did not change
    since the last store (see ``_document_text``)."""
    try:
        text = document_text(execution)
    except Exception as exc:
        raise SagaExecutionNotStorableException(exc) from exc
    return check_storable(text)


def check_storable(text: str) -> str:
    """``text``, once checked to be storable as is: UTF-8 encodable (no lone surrogates) and free of escaped NUL
    characters, which PostgreSQL's ``jsonb`` and ``text`` refuse. Raises ``SagaExecutionNotStorableException``
    otherwise."""
    try:
        text.encode("utf-8")  # raises on a lone surrogate, which no UTF-8 database can hold
    except UnicodeEncodeError as exc:
        raise SagaExecutionNotStorableException(exc) from exc
    if "\\u0000" in text and _NUL.search(text):  # the substring test is cheap; the pattern is not
        raise SagaExecutionNotStorableException(ValueError("a NUL character (PostgreSQL cannot store it)"))
    return text


def wake_time_text(moment: datetime) -> str:
    """``moment`` in UTC with a fixed width, so stored wake times compare as text in the order of time."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def is_due(raw: dict[str, Any], now: datetime) -> bool:
    """Whether a raw execution document's wake time has come (see ``SagaExecution.wake_at``)."""
    wake_at = (raw.get(METADATA_KEY) or {}).get("wake_at")
    return wake_at is not None and wake_at <= wake_time_text(now)


def has_unsent_messages(raw: dict[str, Any]) -> bool:
    """Whether a raw execution document holds outbox messages never confirmed published."""
    metadata = raw.get(METADATA_KEY) or {}
    return any(record.get("sent_at") is None for record in metadata.get("outbox", ()))


_DEFINITIONS: dict[int, list[tuple[dict[str, Any], Saga]]] = {}
_DEFINITIONS_LIMIT = 256


def _definition_from_raw(raw: Any) -> Saga:
    """Parse a raw saga definition, reusing the parse of an identical committed document: the executions of one
    saga carry the same definition, and loading them should not rebuild it each time. Only committed definitions
    are shared, because they cannot change. Documents are grouped by their number of steps, then compared whole
    (equality of two dicts costs a tenth of building a key from one, and stops at the first difference)."""
    if not isinstance(raw, dict) or not raw.get("committed") or not isinstance(steps := raw.get("steps"), list):
        return Saga.from_raw(raw)
    group = _DEFINITIONS.setdefault(len(steps), [])
    for known, definition in group:
        if known == raw:
            return definition
    definition = Saga.from_raw(raw)
    group.append((copy.deepcopy(raw), definition))  # a copy: the caller's document may change afterwards
    if sum(map(len, _DEFINITIONS.values())) > _DEFINITIONS_LIMIT:
        _DEFINITIONS.clear()
    return definition


_DEFINITION_TEXTS: BoundedCache[str, tuple[Any, Saga]] = BoundedCache(_DEFINITIONS_LIMIT)


def _definition_from_text(text: str) -> tuple[Any, Saga]:
    """The raw definition of JSON ``text`` and its parse, both reused for a committed definition's text seen before
    (they cannot change)."""
    if (known := _DEFINITION_TEXTS.get(text)) is not None:
        return known
    raw = json.loads(text)
    parsed = raw, _definition_from_raw(raw)
    if parsed[1].committed:
        _DEFINITION_TEXTS.keep(text, parsed)
    return parsed


def execution_from_parts(definition: str, state: str, steps: Sequence[str]) -> SagaExecution:
    """The execution whose document has these parts (see ``document_parts``): the JSON texts of its definition, of
    its state and of each executed step. A committed definition's text and a local or remote step's text seen before
    are not parsed again. A bad document raises ``SagaExecutionFormatException``."""
    from .saga import SagaExecution  # imports this module

    try:
        raw_definition, parsed = _definition_from_text(definition)
        known = list(zip(raw_definition["steps"], parsed.steps))
        executed = [
            _step_from_text(text, *known[index]) if index < len(known) else SagaStepExecution.from_raw(json.loads(text))
            for index, text in enumerate(steps)
        ]
        raw = json.loads(state) | {"definition": raw_definition}
        if (paused_step := raw.get("paused_step")) is not None and len(executed) < len(known):
            raw["paused_step"] = step_execution(paused_step, *known[len(executed)])
    except (SagaDefinitionFormatException, SagaExecutionFormatException):
        raise  # already precise (and ``TypeError`` subclasses)
    except (KeyError, TypeError, ValueError) as exc:
        raise SagaExecutionFormatException(f"The saga execution parts are not valid: {exc!r}") from exc
    execution = SagaExecution.from_raw(raw, definition=parsed)  # its steps, built already, join it after
    execution.executed_steps = executed
    return execution


def _step_from_text(text: str, raw_definition: Any, definition: SagaStep) -> SagaStepExecution:
    """The step execution of JSON ``text``, whose step should be ``definition``: parsed only the first time."""
    if (step := step_from_text(text, definition)) is None:
        step = step_execution(json.loads(text), raw_definition, definition)
        remember_step_text(text, step)
    return step


def _context_avro_str(context: Any) -> str:
    # A local callback may have returned a mapping as the context (as 0.7.0 allowed): it is stored as a context.
    return context.avro_str if isinstance(context, SagaContext) else context_copy(context).avro_str


def _as_uuid(value: Union[str, UUID]) -> UUID:
    """A ``UUID``, or one parsed from its string: a malformed one raises ``ValueError`` (``from_raw`` reports a bad
    document)."""
    return value if isinstance(value, UUID) else UUID(value)


def _as_context(value: Union[str, SagaContext, dict[str, Any]]) -> SagaContext:
    if isinstance(value, SagaContext):
        return value
    if isinstance(value, str):
        return SagaContext.from_avro_str(value)
    return SagaContext(**value)


class _StepExecutionReader:
    """Reads the step executions of a raw document in order. A step execution embeds its step's definition, which
    the saga definition already holds: when the two raw forms match, the parsed step is reused, not parsed again."""

    def __init__(self, raw_definition: Any, definition: Saga):
        raw_steps = raw_definition.get("steps", ()) if isinstance(raw_definition, dict) else ()
        self._known = list(zip(raw_steps, definition.steps))
        self._position = 0

    def __call__(self, raw: Any) -> SagaStepExecution:
        known = self._known[self._position] if self._position < len(self._known) else None
        self._position += 1
        if known is None:
            return SagaStepExecution.from_raw(raw)
        return step_execution(raw, *known)


def step_execution(raw: Any, raw_definition: Any, definition: SagaStep) -> SagaStepExecution:
    """The step execution of ``raw``, whose step should be ``definition`` (of raw form ``raw_definition``): when the
    raw forms match, the parsed ``definition`` is reused rather than parsed again."""
    if isinstance(raw, dict) and raw.get("definition") == raw_definition:
        if raw.keys() == _PLAIN_STEP_KEYS:  # a local or remote step: built without from_raw's generic path
            return _plain_step(raw, definition)
        return SagaStepExecution.from_raw(raw, definition=definition)
    return SagaStepExecution.from_raw(raw)


_PLAIN_STEP_KEYS = {"cls", "definition", "status", "related_services", "already_rollback"}
_STEP_STATUSES = {status.value: status for status in SagaStepStatus}


def _plain_step(raw: dict[str, Any], definition: SagaStep) -> SagaStepExecution:
    """What ``SagaStepExecution.from_raw`` builds from a document with exactly its base keys, given the parsed
    definition; a bad value raises the same errors."""
    step_cls = import_subclass(raw["cls"], SagaStepExecution, SagaExecutionFormatException)
    try:
        return step_cls(
            definition=definition,
            related_services=set(raw["related_services"] or ()),
            status=_STEP_STATUSES[raw["status"]],
            already_rollback=raw["already_rollback"],
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise SagaExecutionFormatException(f"The raw step execution is not valid ({exc!r}): {raw!r}") from exc
