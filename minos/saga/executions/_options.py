"""What one run of a saga execution hands down to its steps, their executors and its commit, as one typed object.

A run is one call of ``SagaExecution.execute()`` (or of ``rollback()``, ``commit()`` or ``reject()``). Its callers
give options by keyword, as in 0.7.0 (``broker_publisher``, ``broker_pool``...); the execution reads them once into
a :class:`RunOptions` and passes that object down, instead of each layer picking what it needs out of ``**kwargs``.

What a run takes from minos' injector (the service name, the publisher, the aggregate repositories) is resolved on
first use and at most once per run: resolving costs more than running a local step, and a run needs the same
answers for each of its steps and callbacks. Each run asks the injector again, so a service or a test that rewires
its injector between runs sees the new dependencies; only the name read from an injected config is kept, for as long
as that same config stays injected (reading it costs more than the rest of a local step, and it never changes).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Optional, TypeVar
from uuid import UUID

from minos.common import Config, InjectableMixin, PoolFactory
from minos.networks import BrokerClientPool, BrokerPublisher

from .._minos_internals import injection_resolver
from ..transactions import TransactionScopes

if TYPE_CHECKING:
    from .executors import Executor

_E = TypeVar("_E", bound="Executor")


class RunDependencies:
    """The injector's answers for one run, each resolved on first use (a run that publishes nothing never asks for a
    publisher).

    The wired container is resolved once per run (``_minos_internals.injection_resolver``), then each answer by its
    injectable name, which is what ``Inject.resolve`` looks up for these classes. Plain lazy attributes rather than
    ``functools.cached_property``, whose first read takes a lock on Python < 3.12: a run reads each answer for the
    first time, so that lock would be paid on every one."""

    __slots__ = ("_resolver", "_service_name", "_broker_publisher", "_transaction_scopes")

    def __init__(self) -> None:
        self._resolver: Callable[[str], Any] | None = None
        self._service_name: str | None = None
        self._broker_publisher: BrokerPublisher | None = None
        self._transaction_scopes: TransactionScopes | None = None

    @property
    def service_name(self) -> str:
        """The name of this microservice (steps join their related services with it)."""
        if self._service_name is None:
            self._service_name = _name_of(self._resolve(Config))
        return self._service_name

    @property
    def broker_publisher(self) -> BrokerPublisher:
        """The injected broker publisher."""
        if self._broker_publisher is None:
            self._broker_publisher = self._resolve(BrokerPublisher)
        return self._broker_publisher

    @property
    def transaction_scopes(self) -> TransactionScopes:
        """The scopes callbacks run in (see ``minos.saga.transactions``)."""
        if self._transaction_scopes is None:
            self._transaction_scopes = TransactionScopes(self._resolve)
        return self._transaction_scopes

    def _resolve(self, kind: type[InjectableMixin]) -> Any:
        if self._resolver is None:
            self._resolver = injection_resolver()
        return self._resolver(kind.get_injectable_name())


@dataclass
class RunOptions:
    """The options of one run: whose execution it is, what its caller gave, and the injector's answers.

    ``broker_publisher`` is the publisher the caller gave (``SagaManager`` gives one that only collects), ``None``
    meaning the injected one (see :attr:`publisher`); ``broker_pool`` and ``pool_factory`` go to the commit;
    ``pause_on_commit`` makes the commit pause on its reservations instead of waiting for them.

    Read-only by convention (:meth:`of_execution` gives a changed copy), not ``frozen``: a frozen dataclass sets
    each field through ``object.__setattr__``, which made building one cost ~2% of a local saga (one per run).
    """

    execution_uuid: Optional[UUID] = None  # noqa: UP045
    user: Optional[UUID] = None  # noqa: UP045
    broker_publisher: Optional[BrokerPublisher] = None  # noqa: UP045
    broker_pool: Optional[BrokerClientPool] = None  # noqa: UP045
    pool_factory: Optional[PoolFactory] = None  # noqa: UP045
    pause_on_commit: bool = False
    dependencies: RunDependencies = field(default_factory=RunDependencies, compare=False, repr=False)
    _executors: dict[type[Executor], Any] = field(default_factory=dict, init=False, compare=False, repr=False)

    @classmethod
    def from_keywords(cls, keywords: Mapping[str, Any]) -> RunOptions:
        """The options carried by the keyword arguments of a public method: the ``options`` passed within this
        package, else those named by 0.7.0's keywords (any other keyword is ignored, as 0.7.0 ignored it)."""
        given = keywords.get("options")
        if given is not None:
            return given
        return cls.of_keywords(keywords.get("execution_uuid"), keywords.get("user"), keywords)

    @classmethod
    def of_keywords(
        cls,
        execution_uuid: Optional[UUID],  # noqa: UP045
        user: Optional[UUID],  # noqa: UP045
        keywords: Mapping[str, Any],
    ) -> RunOptions:
        """The options of a run of the ``execution_uuid`` execution of ``user`` whose caller gave 0.7.0's
        ``keywords``."""
        return cls(
            execution_uuid=execution_uuid,
            user=user,
            broker_publisher=keywords.get("broker_publisher"),
            broker_pool=keywords.get("broker_pool"),
            pool_factory=keywords.get("pool_factory"),
            pause_on_commit=keywords.get("pause_on_commit", False),
        )

    def of_execution(self, uuid: UUID, user: Optional[UUID]) -> RunOptions:  # noqa: UP045
        """These options for the run of the ``uuid`` execution of ``user`` (the dependencies stay shared)."""
        if self.execution_uuid == uuid and self.user == user:
            return self
        return replace(self, execution_uuid=uuid, user=user)

    def executor(self, kind: type[_E]) -> _E:
        """The run's executor of ``kind``, built on first use: an executor holds nothing but the run's uuid and
        dependencies, so the steps of a run share one instead of building one per callback."""
        executor = self._executors.get(kind)
        if executor is None:
            executor = self._executors[kind] = kind(self.execution_uuid, options=self)
        return executor

    @property
    def publisher(self) -> BrokerPublisher:
        """The publisher of the run: the given one, else the injected one."""
        return self.broker_publisher if self.broker_publisher is not None else self.dependencies.broker_publisher


_last_named: tuple[Optional[Config], str] = (None, "")  # noqa: UP045


def _name_of(config: Config) -> str:
    """The service name ``config`` gives, read again only when another config is injected."""
    global _last_named
    known, name = _last_named
    if known is not config:
        name = config.get_name()
        _last_named = (config, name)
    return name
