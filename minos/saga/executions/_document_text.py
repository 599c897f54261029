"""The JSON text of an execution document, built from the text of its parts, reused while they do not change.

Storing an execution at each pause writes its whole document, and most of it does not change between pauses: the
committed definition, and every step that finished. Their text is kept on the (shared) definition, with what it
depends on, and joined with the text of the rest instead of encoding the whole document again; the result equals
``json.dumps(execution.raw, ensure_ascii=False)``. A step execution also remembers its text, so a step stored again
unchanged costs a few comparisons. The other way, a step's text seen when loading is kept with its state, so the
step is built again from that text without parsing it (see ``IncrementalSagaExecutionRepository``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from .._bounded import BoundedCache
from ..context import SagaContext
from ..definitions import LocalSagaStep, RemoteSagaStep, Saga, SagaOperation, SagaStep
from .status import SagaStepStatus
from .steps import LocalSagaStepExecution, RemoteSagaStepExecution, SagaStepExecution

if TYPE_CHECKING:
    from .saga import SagaExecution

_CACHE = "_minos_saga_text"
"""The attribute holding the texts kept on a part of a definition (a ``_Texts``), and on a step execution its last
text (a ``_Text``)."""

_PLAIN_STEPS = (LocalSagaStep, RemoteSagaStep)
_PLAIN_STEP_EXECUTIONS = (LocalSagaStepExecution, RemoteSagaStepExecution)


_ENCODER = json.JSONEncoder(ensure_ascii=False)
"""What ``json.dumps(value, ensure_ascii=False)`` builds at each call (a document's text joins the text of many
small values)."""


def dumps(value: Any) -> str:
    """``value`` as JSON text, as documents are stored (non-ASCII characters kept as they are)."""
    return _ENCODER.encode(value)


def document_text(execution: SagaExecution) -> str:
    """``json.dumps(execution.raw, ensure_ascii=False)``, with the text of its definition and executed steps reused."""
    return joined_document(*document_parts(execution, keep=True))


def document_parts(execution: SagaExecution, *, keep: bool = False) -> tuple[str, str, list[str]]:
    """The texts of the parts of the document of ``execution``: its definition, its state (the document but its
    definition and executed steps) and each executed step; :func:`joined_document` joins them into the document.
    ``keep`` asks to keep the document built for the state for the next ``execution.raw`` (see
    ``SagaExecution._document_kept``)."""
    document = execution._document(None, None, keep=keep)
    state = {key: value for key, value in document.items() if key not in _NOT_STATE}
    return definition_text(execution.definition), dumps(state), list(map(step_text, execution.executed_steps))


_NOT_STATE = frozenset({"definition", "executed_steps"})
_STATUS = '", "status": "'


def joined_document(definition: str, state: str, steps: Sequence[str]) -> str:
    """The document text of the parts :func:`document_parts` gives: the definition first, then the state's ``uuid``
    and ``status`` (neither needs escapes, so the first quote after the status ends it), the executed steps and the
    rest of the state."""
    status_end = state.index('"', state.index(_STATUS) + len(_STATUS)) + 1
    executed_steps = ", ".join(steps)
    return (
        f'{{"definition": {definition}, {state[1:status_end]}, "executed_steps": [{executed_steps}]{state[status_end:]}'
    )


def definition_text(definition: Saga) -> str:
    """A committed definition cannot change but for the values of its operations' parameters: its text is kept
    while those stay equal."""
    kept = _kept(definition, definition.steps) if definition.committed else None
    if kept is None:
        return dumps(definition.raw)
    return kept.of(None, lambda: definition.raw).text


def step_text(step: SagaStepExecution) -> str:
    """The text of a local or remote step execution of a committed definition is kept on its step definition, by
    the step's state (status, services, compensation): executions of one saga share that definition, however often
    they are loaded, so a step that finished is encoded once per state. The step remembers its text too, so storing
    it again while it does not change costs a few comparisons. The rest are encoded each time."""
    known: _Text | None = getattr(step, _CACHE, None)
    if known is not None and known.holds(step):
        return known.text
    kept = _step_texts(step)
    if kept is None:
        return dumps(step.raw)
    known = kept.of(_state(step), lambda: step.raw)
    setattr(step, _CACHE, known)
    return known.text


def step_from_text(text: str, definition: SagaStep) -> SagaStepExecution | None:
    """A new step execution of ``definition`` from ``text``, the text of one (as :func:`step_text` gives it or as a
    repository returned it) already seen for that definition; ``None`` when it was not."""
    kept = _step_definition_texts(definition)
    if kept is None or (known := kept.by_text.get(text)) is None:
        return None
    step_cls, status, already_rollback, related_services = known.state
    step = step_cls(definition, set(related_services), status, already_rollback)
    setattr(step, _CACHE, known)
    return step


def remember_step_text(text: str, step: SagaStepExecution) -> None:
    """Note that ``text`` is the text of ``step`` (just parsed from it), so :func:`step_from_text` builds it next
    time without parsing. Only local and remote steps of committed definitions are remembered."""
    if (kept := _step_texts(step)) is not None:
        known = kept.by_text.keep(text, kept.of(_state(step), lambda: step.raw))
        setattr(step, _CACHE, known)


def _step_texts(step: SagaStepExecution) -> _Texts | None:
    """The texts kept on the definition of ``step``: ``None`` unless it is a local or remote step of a committed
    definition."""
    return _step_definition_texts(step.definition) if type(step) in _PLAIN_STEP_EXECUTIONS else None


def _step_definition_texts(definition: SagaStep) -> _Texts | None:
    """The texts kept on ``definition``: ``None`` unless it is a local or remote step of a committed definition."""
    if definition.saga is None or not definition.saga.committed:
        return None
    return _kept(definition, [definition])


_StepState = tuple[type[SagaStepExecution], SagaStepStatus, bool, frozenset[str]]


def _state(step: SagaStepExecution) -> _StepState:
    """What the text of a local or remote step execution depends on, besides its definition."""
    return type(step), step.status, step.already_rollback, frozenset(step.related_services)


_STATES_LIMIT = 16
"""How many texts one part keeps (a step finishes with a few sets of related services)."""


class _Text(NamedTuple):
    """The text of a part of a definition in one state (``None`` for the definition itself)."""

    kept: _Texts
    state: Any
    text: str

    def holds(self, step: SagaStepExecution) -> bool:
        """Whether this is still the text of ``step``, which it was taken for: the step is in the same state, and its
        definition's texts are still those this one belongs to."""
        _, status, already_rollback, related_services = self.state
        kept = self.kept
        return (
            step.status is status
            and step.already_rollback is already_rollback
            and step.related_services == related_services
            and getattr(step.definition, _CACHE, None) is kept
            and kept.valid
        )


class _Texts:
    """The texts kept on a part of a definition (the definition itself, or one of its steps), by state and by text
    (the texts seen for it when loading, each as a repository returned it), valid while the parameters of its
    operations stay the same."""

    __slots__ = ("parameters", "by_state", "by_text")

    def __init__(self, parameters: list[tuple[SagaOperation, SagaContext, dict[str, Any]]]):
        self.parameters = parameters
        self.by_state: BoundedCache[Hashable, _Text] = BoundedCache(_STATES_LIMIT)
        self.by_text: BoundedCache[str, _Text] = BoundedCache(_STATES_LIMIT)

    @property
    def valid(self) -> bool:
        """Whether the parameters the texts were built with are still those of the operations."""
        return not self.parameters or all(_unchanged(*parameters) for parameters in self.parameters)

    def of(self, state: Hashable, raw: Callable[[], Any]) -> _Text:
        """The text of ``raw()`` in ``state``, encoded the first time only."""
        known = self.by_state.get(state)
        if known is None:
            known = self.by_state.keep(state, _Text(self, state, dumps(raw())))
        return known


def _kept(owner: Any, steps: list[SagaStep]) -> _Texts | None:
    """The texts kept on ``owner`` (new ones if the parameters they depend on changed); ``None`` (nothing is kept)
    unless ``steps`` are all local or remote steps."""
    kept = getattr(owner, _CACHE, None)
    if kept is not None and kept.valid:
        return kept
    if not all(type(step) in _PLAIN_STEPS for step in steps):
        return None
    parameters = [
        (part, part.parameters, dict(part.parameters))
        for step in steps
        for part in step
        if isinstance(part, SagaOperation) and isinstance(part.parameters, SagaContext)
    ]
    kept = _Texts(parameters)
    setattr(owner, _CACHE, kept)
    return kept


def _unchanged(operation: SagaOperation, parameters: SagaContext, values: dict[str, Any]) -> bool:
    return operation.parameters is parameters and dict(parameters) == values
