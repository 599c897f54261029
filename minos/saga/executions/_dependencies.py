"""What a saga run takes from the injector, resolved at most once per ``SagaExecution.execute()`` call.

Resolving through minos' injector, and reading the service name from its config, costs more than running a local
step, and a run needs the same answers for each of its steps and callbacks. ``resolves_once`` marks a run; the
engine asks ``dependencies()`` instead of the injector. Outside a run every call gets a fresh set, and nothing is
kept across runs, so a service or a test that rewires its injector between runs sees the new dependencies.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from functools import cached_property
from typing import Any, Optional, TypeVar

from minos.common import Inject
from minos.networks import BrokerPublisher

from ..transactions import TransactionRepository, transaction_repository
from ..utils import get_service_name

T = TypeVar("T")


class RunDependencies:
    """Each dependency is resolved on first use, so a run that publishes nothing never asks for a publisher."""

    @cached_property
    def service_name(self) -> str:
        return get_service_name()

    @cached_property
    def broker_publisher(self) -> BrokerPublisher:
        return Inject.resolve(BrokerPublisher)

    @cached_property
    def transaction_repository(self) -> Optional[TransactionRepository]:  # noqa: UP045
        return transaction_repository()


_CURRENT_RUN: ContextVar[Optional[RunDependencies]] = ContextVar("minos_saga_run_dependencies", default=None)  # noqa: UP045


def dependencies() -> RunDependencies:
    """The dependencies of the run in progress, or a fresh set outside any run."""
    return _CURRENT_RUN.get() or RunDependencies()


def resolves_once(run: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """Decorate a coroutine function so that everything it runs shares one ``RunDependencies``; nested runs (the
    inner execution of a conditional step) share their outer run's."""

    @functools.wraps(run)
    async def wrapper(*args: Any, **kwargs: Any) -> T:
        if _CURRENT_RUN.get() is not None:
            return await run(*args, **kwargs)
        token = _CURRENT_RUN.set(RunDependencies())
        try:
            return await run(*args, **kwargs)
        finally:
            _CURRENT_RUN.reset(token)

    return wrapper
