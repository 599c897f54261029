"""The JSON text of an execution document, built from the text of its parts, reused while they do not change.

Storing an execution at each pause writes its whole document, and most of it does not change between pauses: the
committed definition, and every step that finished. Their text is kept on the (shared) definition, with what it
depends on, and joined with the text of the rest instead of encoding the whole document again; the result equals
``json.dumps(execution.raw, ensure_ascii=False)``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

from ..context import SagaContext
from ..definitions import LocalSagaStep, RemoteSagaStep, Saga, SagaOperation, SagaStep
from .steps import LocalSagaStepExecution, RemoteSagaStepExecution, SagaStepExecution

if TYPE_CHECKING:
    from .saga import SagaExecution

_CACHE = "_minos_saga_text"
"""The attribute holding a part's text and what it depends on."""

_PLAIN_STEPS = (LocalSagaStep, RemoteSagaStep)
_PLAIN_STEP_EXECUTIONS = (LocalSagaStepExecution, RemoteSagaStepExecution)


_ENCODER = json.JSONEncoder(ensure_ascii=False)
"""What ``json.dumps(value, ensure_ascii=False)`` builds at each call (a document's text joins the text of many
small values)."""


def dumps(value: Any) -> str:
    """``value`` as JSON text, as documents are stored (non-ASCII characters kept as they are)."""
    return _ENCODER.encode(value)


_DEFINITION, _EXECUTED_STEPS = object(), object()
"""Stand-ins for the parts whose text is built from kept pieces."""


def document_text(execution: SagaExecution) -> str:
    """``json.dumps(execution.raw, ensure_ascii=False)``, with the text of its definition and executed steps reused."""
    pieces = []
    for key, value in execution._document(_DEFINITION, _EXECUTED_STEPS, keep=True).items():
        if value is _DEFINITION:
            text = _definition_text(execution.definition)
        elif value is _EXECUTED_STEPS:
            text = f"[{', '.join(_step_text(step) for step in execution.executed_steps)}]"
        else:
            text = dumps(value)
        pieces.append(f"{dumps(key)}: {text}")
    return f"{{{', '.join(pieces)}}}"


def _definition_text(definition: Saga) -> str:
    """A committed definition cannot change but for the values of its operations' parameters: its text is kept
    while those stay equal."""
    if not definition.committed:
        return dumps(definition.raw)
    return _text(definition, definition.steps, None, lambda: definition.raw)


def _step_text(step: SagaStepExecution) -> str:
    """The text of a local or remote step execution of a committed definition is kept on its step definition, by
    the step's state (status, services, compensation): executions of one saga share that definition, however often
    they are loaded, so a step that finished is encoded once per state. The rest are encoded each time."""
    definition = step.definition
    if type(step) not in _PLAIN_STEP_EXECUTIONS or definition.saga is None or not definition.saga.committed:
        return dumps(step.raw)
    state = (type(step), step.status, step.already_rollback, frozenset(step.related_services))
    return _text(definition, [definition], state, lambda: step.raw)


_STATES_LIMIT = 16
"""How many texts one part keeps (a step finishes with a few sets of related services)."""


def _text(owner: Any, steps: list[SagaStep], state: Hashable, raw: Callable[[], Any]) -> str:
    """The text of ``raw()`` in ``state``, kept on ``owner`` while the parameters of the operations of ``steps`` (all
    local or remote steps, else nothing is kept) stay the same."""
    kept = getattr(owner, _CACHE, None)
    if kept is None or (kept[0] and not all(_unchanged(*parameters) for parameters in kept[0])):
        kept = _new_texts(owner, steps)
    elif (text := kept[1].get(state)) is not None:
        return text
    text = dumps(raw())
    if kept is not None:
        if len(kept[1]) >= _STATES_LIMIT:
            kept[1].clear()
        kept[1][state] = text
    return text


def _new_texts(owner: Any, steps: list[SagaStep]) -> tuple[list[Any], dict[Hashable, str]] | None:
    """No texts yet on ``owner``, with the parameters they depend on; ``None`` (nothing kept) unless ``steps`` are
    all local or remote steps."""
    if not all(type(step) in _PLAIN_STEPS for step in steps):
        return None
    parameters = [
        (part, part.parameters, dict(part.parameters))
        for step in steps
        for part in step
        if isinstance(part, SagaOperation) and isinstance(part.parameters, SagaContext)
    ]
    kept: tuple[list[Any], dict[Hashable, str]] = (parameters, {})
    setattr(owner, _CACHE, kept)
    return kept


def _unchanged(operation: SagaOperation, parameters: SagaContext, values: dict[str, Any]) -> bool:
    return operation.parameters is parameters and dict(parameters) == values
