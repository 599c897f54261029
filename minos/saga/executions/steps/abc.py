"""The base of every step execution: the runtime state of one step of a saga execution."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterator
from inspect import isabstract
from typing import TYPE_CHECKING, Any, Union

from ...context import SagaContext
from ...definitions import ConditionalSagaStep, LocalSagaStep, RemoteSagaStep, SagaStep
from ...exceptions import (
    SagaDefinitionFormatException,
    SagaExecutionFormatException,
    SagaRollbackExecutionStepException,
)
from ...utils import import_subclass
from ..status import SagaStepStatus

if TYPE_CHECKING:
    from ...messages import SagaResponse


# The step definitions are importable from here too, as they were in 0.7.0.
__all__ = ["ConditionalSagaStep", "LocalSagaStep", "RemoteSagaStep", "SagaStepExecution"]

_EXECUTION_CLASSES: dict[type[SagaStep], type[SagaStepExecution]] = {}
"""The step execution class of each step definition class, filled by ``SagaStepExecution`` subclasses."""


class SagaStepExecution(ABC):
    """Executes and compensates one step. ``related_services`` are the services it touched; this one joins them when
    the step runs. Compensating a step that never ran raises ``SagaRollbackExecutionStepException``."""

    def __init__(
        self,
        definition: SagaStep,
        related_services: set[str] | None = None,
        status: SagaStepStatus = SagaStepStatus.Created,
        already_rollback: bool = False,
    ):
        self.definition = definition
        """The step of the definition it runs."""
        # A new step has none yet: this service joins when the step runs.
        self.related_services = set() if related_services is None else set(related_services)
        """The services that took part in the step: the two-phase commit asks each of them."""
        self.status = status
        """Where the step stands."""
        self.already_rollback = already_rollback
        """Whether the step has been compensated."""

    def __init_subclass__(cls, executes: type[SagaStep] | None = None, **kwargs: Any):
        """``class X(SagaStepExecution, executes=SomeSagaStep)`` makes ``X`` the execution of ``SomeSagaStep``."""
        super().__init_subclass__(**kwargs)
        if executes is not None:
            _EXECUTION_CLASSES[executes] = cls

    @staticmethod
    def from_definition(step: SagaStep) -> SagaStepExecution:
        """A new execution of the ``step`` definition, of the class registered for its kind (or a base kind)."""
        for definition_cls in type(step).__mro__:
            if (execution_cls := _EXECUTION_CLASSES.get(definition_cls)) is not None:
                return execution_cls(step)
        raise TypeError(f"There is no step execution for {step!r}.")

    @classmethod
    def from_raw(cls, raw: Union[dict[str, Any], SagaStepExecution], **kwargs: Any) -> SagaStepExecution:
        """Build the step execution class named by ``raw["cls"]`` (without it, the concrete class this is called on).
        ``related_services`` and ``already_rollback`` are optional, as in 0.7.0."""
        if isinstance(raw, SagaStepExecution):
            return raw
        try:
            fields = dict(raw) | kwargs
            path = fields.pop("cls", None)
            fields["definition"] = SagaStep.from_raw(fields["definition"])
            fields["status"] = SagaStepStatus.from_raw(fields["status"])
            fields["related_services"] = set(fields.get("related_services") or ())
        except (SagaDefinitionFormatException, SagaExecutionFormatException):
            raise  # already precise (and ``TypeError`` subclasses)
        except (KeyError, TypeError, ValueError) as exc:
            raise SagaExecutionFormatException(f"The raw step execution is not valid ({exc!r}): {raw!r}") from exc
        if path is None and isabstract(cls):
            raise SagaExecutionFormatException(f"A raw step execution must name its class in 'cls'. Obtained: {raw!r}")
        step_cls = cls if path is None else import_subclass(path, cls, SagaExecutionFormatException)
        return step_cls(**fields)

    @abstractmethod
    async def execute(self, context: SagaContext, *args: Any, **kwargs: Any) -> SagaContext:
        """Run the step on ``context`` and return the new context."""

    @abstractmethod
    async def rollback(self, context: SagaContext, *args: Any, **kwargs: Any) -> SagaContext:
        """Compensate the step and return the new context."""

    async def _compensate_once(self, compensate: Callable[[], Awaitable[SagaContext]]) -> SagaContext:
        """Run a step's compensation at most once, turning its failure into a step rollback error."""
        if self.status == SagaStepStatus.Created:
            raise SagaRollbackExecutionStepException("The step never ran: there is nothing to compensate.")
        if self.already_rollback:
            raise SagaRollbackExecutionStepException("The step was already compensated.")
        try:
            context = await compensate()
        except Exception as exc:
            self.status = SagaStepStatus.ErroredOnFailure
            raise SagaRollbackExecutionStepException(f"The step compensation failed: {exc!r}") from exc
        self.already_rollback = True
        return context

    def awaits(self, response: SagaResponse) -> bool:
        """Whether this paused step is the one ``response`` answers."""
        return True

    @property
    def raw(self) -> dict[str, Any]:
        """The step execution as a raw document, as stored with its execution."""
        return {
            "cls": f"{type(self).__module__}.{type(self).__qualname__}",
            "definition": self.definition.raw,
            "status": self.status.raw,
            "related_services": sorted(self.related_services),
            "already_rollback": self.already_rollback,
        }

    def __eq__(self, other: Any) -> bool:
        return type(self) is type(other) and tuple(self) == tuple(other)

    def __iter__(self) -> Iterator[Any]:
        yield from (self.definition, self.status, self.related_services, self.already_rollback)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(definition={self.definition!r}, status={self.status!r}, "
            f"related_services={self.related_services!r}, already_rollback={self.already_rollback!r})"
        )
