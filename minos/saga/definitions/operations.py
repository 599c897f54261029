"""A saga operation: one user callback plus the parameters it is called with."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from typing import Any, Generic, TypeVar, Union

from minos.common import MinosImportException, classname, import_module

from ..context import SagaContext
from ..exceptions import SagaCallbackException, SagaDefinitionFormatException

T = TypeVar("T")


class SagaOperation(Generic[T]):
    """``callback`` is called as ``callback(context, [response,] **parameters)``.

    Operations are stored by the import path of their callback, so callbacks must be module-level functions.
    """

    def __init__(self, callback: T, parameters: Union[dict, SagaContext] | None = None, **kwargs: Any):
        if not callable(callback):
            raise SagaCallbackException(f"A saga callback must be callable. Obtained: {callback!r}")
        if parameters is None:
            parameters = kwargs
        elif kwargs:
            parameters = {**parameters, **kwargs}
        if parameters is not None and not isinstance(parameters, SagaContext):
            parameters = SagaContext(**parameters) if parameters else None
        self.callback = callback
        """The function called: module-level, so a stored definition names it by import path."""
        self.parameters: SagaContext | None = parameters
        """Keyword arguments passed to the callback on each call (``None``: none)."""
        self._encoded_parameters: tuple[dict[str, Any], str] | None = None

    @property
    def parameterized(self) -> bool:
        """Whether the callback receives parameters."""
        return self.parameters is not None

    @property
    def raw(self) -> dict[str, Any]:
        """The operation as a raw document: the callback's import path and its parameters."""
        raw: dict[str, Any] = {"callback": self._callback_path}
        if self.parameters is not None:
            raw["parameters"] = self._parameters_avro_str(self.parameters)
        return raw

    def _parameters_avro_str(self, parameters: SagaContext) -> str:
        """The avro form of the parameters, encoded again only when they changed: documents of the same
        definition then carry the same string, and storing an execution does not re-encode its definition."""
        if self._encoded_parameters is None or self._encoded_parameters[0] != dict(parameters):
            self._encoded_parameters = (dict(parameters.copy()), parameters.avro_str)
        return self._encoded_parameters[1]

    @cached_property
    def _callback_path(self) -> str:
        path = classname(self.callback)
        try:
            found = import_module(path)
        except MinosImportException:
            found = None
        if found is not self.callback:
            raise SagaCallbackException(
                f"The {path!r} callback cannot be stored: callbacks must be importable by path "
                "(module-level functions, not lambdas, closures or bound methods)."
            )
        return path

    @classmethod
    def from_raw(cls, raw: Union[dict[str, Any], SagaOperation[T]] | None, **kwargs: Any) -> SagaOperation[T] | None:
        """Build an operation from a raw document (or pass one through); ``None`` stays ``None``."""
        if raw is None or isinstance(raw, SagaOperation):
            return raw
        try:
            path = raw["callback"]
        except (KeyError, TypeError):
            raise SagaDefinitionFormatException(
                f"A raw operation must contain a 'callback' key. Obtained: {raw!r}"
            ) from None
        try:
            callback = import_module(path)
        except MinosImportException as exc:
            raise SagaDefinitionFormatException(f"The {path!r} callback cannot be imported: {exc}") from exc
        parameters = raw.get("parameters")
        if not isinstance(parameters, str):
            return cls(callback, parameters, **kwargs)
        operation = cls(callback, SagaContext.from_avro_str(parameters), **kwargs)
        if operation.parameters is not None and not kwargs:
            operation._encoded_parameters = (dict(operation.parameters.copy()), parameters)
        return operation

    def __eq__(self, other: Any) -> bool:
        return (
            isinstance(other, SagaOperation) and self.callback == other.callback and self.parameters == other.parameters
        )

    def __iter__(self) -> Iterator[Any]:
        yield from (self.callback, self.parameters)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({getattr(self.callback, '__qualname__', self.callback)!r}, {self.parameters!r})"
