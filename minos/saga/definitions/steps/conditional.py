"""A step that runs one of several inner sagas, picked by conditions on the context."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Union

from ...exceptions import (
    EmptySagaStepException,
    MultipleElseThenException,
    SagaDefinitionFormatException,
    SagaStepException,
)
from ..operations import SagaOperation
from .abc import SagaStep, as_operation, require_keys

if TYPE_CHECKING:
    from ...context import SagaContext
    from ..saga import Saga


def _as_saga(saga: Any) -> Saga:
    from ..saga import Saga

    if not isinstance(saga, Saga):
        raise SagaStepException(f"A conditional alternative needs a 'Saga' instance. Obtained: {saga!r}")
    return saga


def _saga_from_raw(raw: dict[str, Any]) -> Saga:
    from ..saga import Saga

    require_keys(raw, "saga")
    return Saga.from_raw(raw["saga"])


class IfThenAlternative:
    """Run ``saga`` when ``condition(context)`` holds."""

    def __init__(
        self,
        condition: Union[SagaOperation, Callable[[SagaContext], Union[bool, Awaitable[bool]]]],
        saga: Saga,
    ):
        self.condition = as_operation(condition)
        """The operation deciding whether this branch runs."""
        self.saga = _as_saga(saga)
        """The (committed) saga this branch runs."""

    @classmethod
    def from_raw(cls, raw: Union[dict[str, Any], IfThenAlternative], **kwargs: Any) -> IfThenAlternative:
        """Build the alternative from a raw document (or pass one through)."""
        if isinstance(raw, IfThenAlternative):
            return raw
        require_keys(raw, "condition", "saga")
        condition = SagaOperation.from_raw(raw["condition"])
        if condition is None:
            raise SagaDefinitionFormatException(f"An 'if_then' alternative needs a condition. Obtained: {raw!r}")
        return cls(condition, _saga_from_raw(raw))

    def validate(self) -> None:
        """Raise unless the inner saga can be executed."""
        self.saga.validate()

    @property
    def raw(self) -> dict[str, Any]:
        """The alternative as a raw document: its condition and inner saga."""
        return {"condition": self.condition.raw, "saga": self.saga.raw}

    def __iter__(self) -> Iterator[Any]:
        yield from (self.condition, self.saga)

    def __eq__(self, other: Any) -> bool:
        return type(self) is type(other) and tuple(self) == tuple(other)


class ElseThenAlternative:
    """Run ``saga`` when no ``if_then`` condition holds."""

    def __init__(self, saga: Saga):
        self.saga = _as_saga(saga)
        """The (committed) saga this branch runs."""

    @classmethod
    def from_raw(cls, raw: Union[dict[str, Any], ElseThenAlternative], **kwargs: Any) -> ElseThenAlternative:
        """Build the fallback from a raw document (or pass one through)."""
        if isinstance(raw, ElseThenAlternative):
            return raw
        return cls(_saga_from_raw(raw))

    def validate(self) -> None:
        """Raise unless the inner saga can be executed."""
        self.saga.validate()

    @property
    def raw(self) -> dict[str, Any]:
        """The fallback as a raw document: its inner saga."""
        return {"saga": self.saga.raw}

    def __iter__(self) -> Iterator[Any]:
        yield from (self.saga,)

    def __eq__(self, other: Any) -> bool:
        return type(self) is type(other) and tuple(self) == tuple(other)


class ConditionalSagaStep(SagaStep):
    """Evaluates its ``if_then`` alternatives in order and runs the first that holds, else ``else_then``."""

    def __init__(
        self,
        if_then: Union[IfThenAlternative, Iterable[IfThenAlternative]] | None = None,
        else_then: ElseThenAlternative | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if if_then is None:
            if_then = []
        elif isinstance(if_then, IfThenAlternative):
            if_then = [if_then]
        self.if_then_alternatives: list[IfThenAlternative] = list(if_then)
        """The ``if_then`` branches, tried in order: the first whose condition holds runs."""
        self.else_then_alternative = else_then
        """The branch run when no condition holds (``None``: the step does nothing then)."""

    def if_then(
        self, condition: Callable[[SagaContext], Union[bool, Awaitable[bool]]], saga: Saga
    ) -> ConditionalSagaStep:
        """Add an alternative: run ``saga`` when ``condition(context)`` holds and no earlier one did."""
        self._check_changeable()
        self.if_then_alternatives.append(IfThenAlternative(condition, saga))
        return self

    def else_then(self, saga: Saga) -> ConditionalSagaStep:
        """Set the fallback: run ``saga`` when no ``if_then`` condition holds."""
        self._check_changeable()
        if self.else_then_alternative is not None:
            raise MultipleElseThenException()
        self.else_then_alternative = ElseThenAlternative(saga)
        return self

    def validate(self) -> None:
        """Raise unless the step has an alternative and every inner saga can be executed."""
        if not self.if_then_alternatives and self.else_then_alternative is None:
            raise EmptySagaStepException()
        for alternative in self.if_then_alternatives:
            alternative.validate()
        if self.else_then_alternative is not None:
            self.else_then_alternative.validate()

    @classmethod
    def _from_raw(cls, raw: dict[str, Any], **kwargs: Any) -> ConditionalSagaStep:
        if_then = [IfThenAlternative.from_raw(alternative) for alternative in raw.get("if_then") or ()]
        else_then = raw.get("else_then")
        return cls(if_then, None if else_then is None else ElseThenAlternative.from_raw(else_then), **kwargs)

    @property
    def raw(self) -> dict[str, Any]:
        """The step as a raw document: its class path and alternatives."""
        return {
            "cls": self._classname,
            "if_then": [alternative.raw for alternative in self.if_then_alternatives],
            "else_then": None if self.else_then_alternative is None else self.else_then_alternative.raw,
        }

    def __iter__(self) -> Iterator[Any]:
        yield from (self.if_then_alternatives, self.else_then_alternative)
