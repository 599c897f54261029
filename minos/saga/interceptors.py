"""Interceptors: the one place integrations (tracing, metrics, audit) hook into the saga engine.

The engine calls the active interceptors around four kinds of work, each described by a typed input: a saga run
(starting or resuming an execution, :class:`RunInput`), a step (executing it, applying its reply, or compensating
it, :class:`StepInput`), a commit (:class:`CommitInput`), and the headers of every message it sends
(:meth:`SagaInterceptor.outgoing_headers`). An interceptor wraps the work: it gets the input and a ``proceed``
function running the rest of the chain, so it can act before, after and on errors::

    class Timing(SagaInterceptor):
        async def run_step(self, input: StepInput, proceed):
            started = time.monotonic()
            try:
                return await proceed(input)
            finally:
                print(input.phase, input.step_name, time.monotonic() - started)

    SagaManager(storage=..., interceptors=[Timing()])

(or, in ``config.yml``, the ``saga`` database's ``interceptors`` key: a list of import paths). With no interceptor
the engine skips all of this: building the inputs is the interceptors' cost, not everyone's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from .context import SagaContext
    from .executions import SagaExecution, SagaStepExecution
    from .messages import SagaResponse

_T = TypeVar("_T")
_I = TypeVar("_I")


@dataclass(frozen=True)
class RunInput:
    """One run of the manager on an execution: starting it (``response is None``) or resuming it with a reply."""

    execution: SagaExecution
    """The execution run."""
    response: SagaResponse | None
    """The reply it is resumed with (``None`` when it starts)."""


@dataclass(frozen=True)
class StepInput:
    """One step's work. ``phase`` is ``execute`` (run it; a remote step sends its request), ``reply`` (apply the
    reply of a remote step) or ``compensation``; ``index`` counts the execution's steps from 1."""

    execution: SagaExecution
    """The execution the step belongs to."""
    step: SagaStepExecution
    """The step's execution."""
    index: int
    """The step's position in the execution, from 1."""
    phase: str
    """``execute``, ``reply`` or ``compensation``."""

    @property
    def step_name(self) -> str:
        """The step's kind and callback, e.g. ``remote reserve_stock``."""
        definition = self.step.definition
        operation = getattr(definition, "on_execute_operation", None)
        kind = type(definition).__name__.replace("SagaStep", "").lower() or "step"
        callback = getattr(getattr(operation, "callback", None), "__name__", None)
        return kind if callback is None else f"{kind} {callback}"


@dataclass(frozen=True)
class CommitInput:
    """The two-phase commit of a finished execution."""

    execution: SagaExecution
    """The finished execution whose transactions are committed."""


class SagaInterceptor:
    """Wraps the engine's work. Every method passes through by default: override the ones you need."""

    async def run_saga(self, input: RunInput, proceed: Callable[[RunInput], Awaitable[None]]) -> None:
        """Around one run (start or resume) of an execution, until it pauses, finishes or fails."""
        await proceed(input)

    async def run_step(self, input: StepInput, proceed: Callable[[StepInput], Awaitable[SagaContext]]) -> SagaContext:
        """Around one step's work; returns the context the step produced."""
        return await proceed(input)

    async def commit(self, input: CommitInput, proceed: Callable[[CommitInput], Awaitable[None]]) -> None:
        """Around the commit of a finished execution."""
        await proceed(input)

    def outgoing_headers(self, headers: dict[str, str]) -> None:
        """Change, in place, the headers of a message about to be sent (e.g. to carry trace context)."""


_ACTIVE: ContextVar[tuple[SagaInterceptor, ...]] = ContextVar("minos_saga_interceptors", default=())


@contextmanager
def active_interceptors(interceptors: Sequence[SagaInterceptor]) -> Iterator[None]:
    """Make ``interceptors`` (outermost first) the ones the engine calls within this block (and the tasks it
    starts)."""
    token = _ACTIVE.set(tuple(interceptors))
    try:
        yield
    finally:
        _ACTIVE.reset(token)


# When no interceptor is active (the common case), the ``intercept_*`` functions return what ``proceed()`` returns
# (``intercept_step``: ``proceed`` itself) instead of awaiting it in a coroutine of their own: the step's one runs for
# every step of every saga.


def intercept_run(
    execution: SagaExecution, response: SagaResponse | None, proceed: Callable[[], Awaitable[None]]
) -> Awaitable[None]:
    """Run ``proceed`` inside every active interceptor's :meth:`SagaInterceptor.run_saga`."""
    if not (interceptors := _ACTIVE.get()):
        return proceed()
    return _chain(interceptors, "run_saga", RunInput(execution, response), lambda _: proceed())


def intercept_step(
    execution: SagaExecution,
    step: SagaStepExecution,
    phase: str,
    proceed: Callable[..., Awaitable[SagaContext]],
) -> Callable[..., Awaitable[SagaContext]]:
    """``proceed`` (the step's ``execute`` or ``rollback``) wrapped to run inside every active interceptor's
    :meth:`SagaInterceptor.run_step`; ``proceed`` itself when none is active (called with the step's arguments, it
    then costs nothing more than the step)."""
    if not (interceptors := _ACTIVE.get()):
        return proceed

    def intercepted(*args: Any, **kwargs: Any) -> Awaitable[SagaContext]:
        step_input = StepInput(execution, step, _step_index(execution, step), phase)
        return _chain(interceptors, "run_step", step_input, lambda _: proceed(*args, **kwargs))

    return intercepted


def intercept_commit(execution: SagaExecution, proceed: Callable[[], Awaitable[None]]) -> Awaitable[None]:
    """Run ``proceed`` inside every active interceptor's :meth:`SagaInterceptor.commit`."""
    if not (interceptors := _ACTIVE.get()):
        return proceed()
    return _chain(interceptors, "commit", CommitInput(execution), lambda _: proceed())


def intercept_headers(headers: dict[str, str]) -> dict[str, str]:
    """``headers`` after every active interceptor's :meth:`SagaInterceptor.outgoing_headers`."""
    for interceptor in _ACTIVE.get():
        interceptor.outgoing_headers(headers)
    return headers


async def _chain(
    interceptors: tuple[SagaInterceptor, ...], method: str, input: _I, last: Callable[[_I], Awaitable[_T]]
) -> _T:
    proceed: Callable[[Any], Awaitable[Any]] = last
    for interceptor in reversed(interceptors):
        proceed = _bind(getattr(interceptor, method), proceed)
    return await proceed(input)


def _bind(
    hook: Callable[[Any, Any], Awaitable[Any]], proceed: Callable[[Any], Awaitable[Any]]
) -> Callable[[Any], Awaitable[Any]]:
    return lambda input: hook(input, proceed)


def _step_index(execution: SagaExecution, step: SagaStepExecution) -> int:
    for index, executed in enumerate(execution.executed_steps, start=1):
        if executed is step:
            return index
    return len(execution.executed_steps) + 1


__all__ = [
    "CommitInput",
    "RunInput",
    "SagaInterceptor",
    "StepInput",
    "active_interceptors",
]
