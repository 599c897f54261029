"""The base of every saga step definition."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from inspect import isabstract
from typing import TYPE_CHECKING, Any, TypeVar, Union

from ...exceptions import (
    AlreadyCommittedException,
    EmptySagaStepException,
    SagaDefinitionFormatException,
    SagaNotDefinedException,
    UndefinedOnExecuteException,
)
from ...utils import import_subclass

if TYPE_CHECKING:
    from ..operations import SagaOperation
    from ..saga import Saga
    from .conditional import ConditionalSagaStep
    from .local import LocalSagaStep
    from .remote import RemoteSagaStep

S = TypeVar("S", bound="SagaStep")


class SagaStep(ABC):
    """A step of a :class:`Saga`. Its chaining methods validate it and then continue on its saga."""

    def __init__(self, saga: Saga | None = None, **kwargs: Any):
        self.saga = saga
        """The saga the step belongs to (``None`` for a step built on its own)."""

    def local_step(self, *args: Any, **kwargs: Any) -> LocalSagaStep:
        """Validate this step, then append a local step to its saga (see :meth:`Saga.local_step`)."""
        return self._owning_saga().local_step(*args, **kwargs)

    def remote_step(self, *args: Any, **kwargs: Any) -> RemoteSagaStep:
        """Validate this step, then append a remote step to its saga (see :meth:`Saga.remote_step`)."""
        return self._owning_saga().remote_step(*args, **kwargs)

    def step(self, *args: Any, **kwargs: Any) -> SagaStep:
        """Deprecated alias of :meth:`remote_step`, kept for 0.7.0 callers."""
        return self._owning_saga().step(*args, **kwargs)

    def conditional_step(self, *args: Any, **kwargs: Any) -> ConditionalSagaStep:
        """Validate this step, then append a conditional step to its saga."""
        return self._owning_saga().conditional_step(*args, **kwargs)

    def commit(self, *args: Any, **kwargs: Any) -> Saga:
        """Validate this step, then commit its saga (see :meth:`Saga.commit`)."""
        return self._owning_saga().commit(*args, **kwargs)

    def _set_operation(
        self: S, name: str, already_set: type[Exception], callback: Any, parameters: Any, **kwargs: Any
    ) -> S:
        """Set the ``{name}_operation`` callback once; a second one raises ``already_set``."""
        self._check_changeable()
        attribute = f"{name}_operation"
        if getattr(self, attribute) is not None:
            raise already_set()
        setattr(self, attribute, as_operation(callback, parameters, **kwargs))
        return self

    def _check_changeable(self) -> None:
        """A step of a committed saga is part of an immutable definition: changing it raises."""
        if self.saga is not None and self.saga.committed:
            raise AlreadyCommittedException("A step of a committed saga cannot be changed.")

    def _owning_saga(self) -> Saga:
        self.validate()
        if self.saga is None:
            raise SagaNotDefinedException()
        return self.saga

    @abstractmethod
    def validate(self) -> None:
        """Raise if the step cannot be executed."""

    @classmethod
    def from_raw(cls, raw: Union[dict[str, Any], SagaStep], **kwargs: Any) -> SagaStep:
        """Build the step class named by ``raw["cls"]`` from a raw document; without ``cls``, the class this is
        called on (when it is a concrete one)."""
        if isinstance(raw, SagaStep):
            return raw
        if not isinstance(raw, dict) or ("cls" not in raw and isabstract(cls)):
            raise SagaDefinitionFormatException(f"A raw step must be a dict with a 'cls' key. Obtained: {raw!r}")
        fields = dict(raw)
        path = fields.pop("cls", None)
        step_cls = cls if path is None else import_subclass(path, cls, SagaDefinitionFormatException)
        return step_cls._from_raw(fields, **kwargs)

    @classmethod
    @abstractmethod
    def _from_raw(cls: type[S], raw: dict[str, Any], **kwargs: Any) -> S:
        """Build the step from its raw fields (without ``cls``)."""

    @property
    @abstractmethod
    def raw(self) -> dict[str, Any]:
        """The step as a raw document, ``cls`` first."""

    @property
    def _classname(self) -> str:
        return f"{type(self).__module__}.{type(self).__qualname__}"

    @abstractmethod
    def __iter__(self) -> Iterator[Any]:
        """The parts that define the step, compared by ``__eq__``."""

    def __eq__(self, other: Any) -> bool:
        return type(self) is type(other) and tuple(self) == tuple(other)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(repr(part) for part in self)})"


def validate_operations(on_execute: SagaOperation | None, *others: SagaOperation | None) -> None:
    """A step with no callback at all is empty; one with callbacks must still have ``on_execute``."""
    if on_execute is None:
        if all(operation is None for operation in others):
            raise EmptySagaStepException()
        raise UndefinedOnExecuteException()


def require_keys(raw: dict[str, Any], *keys: str) -> None:
    """Fail with the names of the keys a raw document lacks."""
    if missing := [key for key in keys if key not in raw]:
        raise SagaDefinitionFormatException(f"The raw document lacks the {missing} keys. Obtained: {raw!r}")


def as_operation(callback: Any, parameters: Any = None, **kwargs: Any) -> SagaOperation:
    """Wrap a bare callable (with its parameters) into an operation; operations pass through."""
    from ..operations import SagaOperation

    if isinstance(callback, SagaOperation):
        return callback
    return SagaOperation(callback, parameters, **kwargs)


def optional_operation(callback: Any) -> SagaOperation | None:
    """The callback as an operation, or ``None`` when there is none."""
    return None if callback is None else as_operation(callback)


def raw_or_none(operation: SagaOperation | None) -> dict[str, Any] | None:
    """The operation's raw document, or ``None`` when there is none."""
    return None if operation is None else operation.raw
