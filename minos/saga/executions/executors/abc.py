"""Runs user callbacks of an execution, inside its transaction scope."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from inspect import isawaitable
from types import CoroutineType
from typing import Any
from uuid import UUID

from ...context import SagaContext
from ...definitions import SagaOperation
from ...exceptions import ExecutorException, SagaFailedExecutionStepException
from .._options import RunDependencies, RunOptions


class Executor:
    """Calls operations as ``callback(*args, **parameters)``, awaiting async callbacks; a callback that raises
    raises ``ExecutorException`` (the executors of each step kind turn it into a step failure).

    Steps give the ``options`` of their run (see ``RunOptions``), whose injected dependencies it uses; without them
    the executor resolves what it needs by itself."""

    def __init__(self, execution_uuid: UUID | None, *args: Any, **kwargs: Any):
        self.execution_uuid = execution_uuid
        """The uuid of the execution whose callbacks it runs."""
        options: RunOptions | None = kwargs.get("options")
        # Only the dependencies, not the options: the options keep the run's executors (``RunOptions.executor``),
        # and a reference back would make every run a cycle, freed by the cycle collector instead of at once.
        self.dependencies = options.dependencies if options is not None else RunDependencies()
        """What the run takes from minos' injector (the transaction scopes its callbacks run in)."""

    async def exec(self, operation: SagaOperation, *args: Any, **kwargs: Any) -> Any:
        """Call the operation's callback with its stored parameters added to the keyword arguments."""
        return await self.exec_function(operation.callback, *args, **with_parameters(operation, kwargs))

    async def exec_function(self, func: Callable, *args: Any, **kwargs: Any) -> Any:
        """Call ``func`` (awaiting it when async) inside the execution's transaction scope; its failure becomes
        an ``ExecutorException``."""
        try:
            async with self.dependencies.transaction_scopes(self.execution_uuid):
                result = func(*args, **kwargs)
                if _awaitable(result):
                    result = await result
        except Exception as exc:
            raise ExecutorException(exc) from exc
        return result


_PLAIN_RESULTS = frozenset({SagaContext, type(None)})


def _awaitable(result: Any) -> bool:
    """``inspect.isawaitable(result)``, answered at once for what callbacks return most: a coroutine (async ones), a
    context or ``None`` (its checks cost as much as a copy of the context's top level, on every callback)."""
    kind = type(result)
    return kind is CoroutineType or (kind not in _PLAIN_RESULTS and isawaitable(result))


def with_parameters(operation: SagaOperation, keywords: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of a call of ``operation``'s callback: a copy of its stored parameters, then
    ``keywords``. The executors of each step kind call ``exec_function`` with them directly, rather than through
    :meth:`Executor.exec` (one coroutine less per callback)."""
    if operation.parameters is None:
        return keywords
    return {**operation.parameters.copy(), **keywords}


def context_copy(context: Any) -> SagaContext:
    """A copy of the context a callback receives. A mapping becomes a context: 0.7.0 let a local callback return one
    (e.g. a dict) as the execution's context, and the next callback then received it as a ``SagaContext``."""
    if isinstance(context, SagaContext):
        return context.copy()
    if isinstance(context, Mapping):
        return SagaContext(**context)
    raise TypeError(f"A saga context must be a SagaContext or a mapping. Obtained: {context!r}")


def step_failure(exc: Exception) -> SagaFailedExecutionStepException:
    """The step failure an executor raises for ``exc`` (the callback's own exception when it is the cause)."""
    return SagaFailedExecutionStepException(exc.exception if isinstance(exc, ExecutorException) else exc)
