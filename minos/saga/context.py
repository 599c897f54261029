"""The saga context: the state a saga execution carries from step to step.

``SagaContext`` is a minos ``BucketModel`` (so it serialises with minos' avro machinery, as 0.7.0 stores it)
and a ``MutableMapping``. Values live in a plain ``dict``; minos ``Field`` objects are only built when the model
machinery asks for them (serialisation, hashing). Building a ``Field`` runs minos' type decoder on every write,
which is where 0.7.0 spends most of its time.
"""

from __future__ import annotations

import copy
from collections.abc import ItemsView, Iterator, KeysView, MutableMapping, ValuesView
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from uuid import UUID

from minos.common import BucketModel, Field

from . import _context_avro
from ._bounded import BoundedCache
from ._minos_internals import unchecked_field

_IMMUTABLE_TYPES = frozenset({str, int, float, bool, type(None), UUID, datetime, date, time, timedelta, bytes})


def _copy_value(value: Any) -> Any:
    """Deep-copy ``value``; the JSON-like shapes a context usually holds are copied without ``copy.deepcopy``, and
    the immutable items of a dict or a list are kept without a call each (a copy runs before every callback).

    Exact types are looked up in a set (subclasses, such as enums, go through ``copy.deepcopy``, which keeps
    immutable ones as they are)."""
    kind = type(value)
    if kind is dict:
        copied = value.copy()  # a shallow copy, then a copy of each mutable item (usually few)
        for key, item in value.items():
            if type(item) not in _IMMUTABLE_TYPES:
                copied[key] = _copy_value(item)
        return copied
    if kind is list:
        return [item if type(item) in _IMMUTABLE_TYPES else _copy_value(item) for item in value]
    if kind in _IMMUTABLE_TYPES:
        return value
    return copy.deepcopy(value)


def _decoded_copy(value: Any) -> Any:
    """A deep copy of plain values (those ``_context_avro.encode`` writes) as decoding their avro form gives them
    back: aware datetimes in UTC."""
    kind = type(value)
    if kind is dict:
        return {key: _decoded_copy(item) for key, item in value.items()}
    if kind is list:
        return [_decoded_copy(item) for item in value]
    if kind is datetime and value.tzinfo is not timezone.utc:
        return value.astimezone(timezone.utc)
    return value


_WRITTEN: BoundedCache[str, dict[str, Any]] = BoundedCache(128)
"""The values of the avro strings written lately, as decoding them gives them back (never handed out: copied): an
execution stored at a pause is loaded again at the reply, usually by the process that stored it."""
_WRITTEN_MAX_LENGTH = 16_384  # larger contexts are decoded each time rather than held


def _is_field_mapping(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(item, Field) for item in value.values())


class SagaContext(BucketModel, MutableMapping):
    """Key-value state of a saga execution, readable as ``context["key"]`` or ``context.key``."""

    _values: dict[str, Any]
    _kept_avro: tuple[dict[str, Any], str] | None = None  # see ``avro_str``

    def __init__(self, **kwargs: Any):
        fields = kwargs.get("fields")
        if len(kwargs) == 1 and isinstance(fields, dict) and _is_field_mapping(fields):
            # Called by minos' model machinery (``from_avro_str``, ``BucketModel.empty``) with built fields.
            kwargs = {name: field.value for name, field in fields.items()}
        object.__setattr__(self, "_values", kwargs)

    @classmethod
    def _from_values(cls, values: dict[str, Any]) -> SagaContext:
        context = cls.__new__(cls)
        object.__setattr__(context, "_values", values)
        return context

    def copy(self) -> SagaContext:
        """A deep copy: callbacks work on one, so a failing step leaves the execution's context untouched."""
        return self._from_values(_copy_value(self._values))

    def __deepcopy__(self, memo: dict[int, Any]) -> SagaContext:
        return self.copy()

    def __copy__(self) -> SagaContext:
        return self._from_values(dict(self._values))

    @property
    def avro_str(self) -> str:
        """The avro form stored in raw documents, written directly for plain values (see ``_context_avro``).

        The last form written is kept with a copy of the values it was written from, and returned again while the
        values still encode alike: a paused execution is stored again once its messages are sent, unchanged."""
        kept = self._kept_avro
        if kept is not None and _context_avro.encodes_alike(kept[0], self._values):
            return kept[1]
        encoded = _context_avro.encode(self._values)
        if encoded is None:
            return super().avro_str
        decoded = _decoded_copy(self._values)
        self._kept_avro = (decoded, encoded)
        if len(encoded) <= _WRITTEN_MAX_LENGTH:
            _WRITTEN.keep(encoded, decoded)
        return encoded

    @classmethod
    def from_avro_str(cls, raw: str, **kwargs: Any) -> SagaContext:
        """Read a context from the avro string ``avro_str`` wrote, as stored in execution documents. A string this
        process wrote lately is not decoded: a copy of the values it was written from is read instead."""
        written = _WRITTEN.get(raw)
        if written is not None:
            return cls._from_values(_copy_value(written))
        values = _context_avro.decode(raw)
        if values is None:
            return super().from_avro_str(raw, **kwargs)
        return cls._from_values(values)

    @property
    def fields(self) -> dict[str, Field]:
        """The values as minos ``Field`` objects, built on demand for the model machinery."""
        return {name: unchecked_field(name, Any, value) for name, value in self._values.items()}

    @property
    def _fields(self) -> dict[str, Field]:  # type: ignore[override]
        # Where minos' Model keeps, and its methods read, the fields (see _minos_internals.unmet_assumptions).
        return self.fields

    def __getitem__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise KeyError(f"{type(self).__name__!r} does not contain the {key!r} field.") from None

    def __setitem__(self, key: str, value: Any) -> None:
        self._values[key] = value

    def __delitem__(self, key: str) -> None:
        try:
            del self._values[key]
        except KeyError:
            raise KeyError(f"{type(self).__name__!r} does not contain the {key!r} field.") from None

    def __getattr__(self, item: str) -> Any:
        if not item.startswith("_"):
            try:
                return self._values[item]
            except KeyError:
                pass
        raise AttributeError(f"{type(self).__name__!r} does not contain the {item!r} attribute.")

    def __setattr__(self, key: str, value: Any) -> None:
        if key.startswith("_"):
            object.__setattr__(self, key, value)
        else:
            self._values[key] = value

    def __delattr__(self, key: str) -> None:
        if key.startswith("_"):
            object.__delattr__(self, key)
            return
        try:
            del self._values[key]
        except KeyError:
            raise AttributeError(f"{type(self).__name__!r} does not contain the {key!r} field.") from None

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, SagaContext) and self._values == other._values

    def __hash__(self) -> int:
        return super().__hash__()

    def __repr__(self) -> str:
        items = ", ".join(f"{key}={value!r}" for key, value in self._values.items())
        return f"{type(self).__name__}({items})"

    def keys(self) -> KeysView[str]:  # type: ignore[override]
        """The names of the context's values."""
        return self._values.keys()

    def values(self) -> ValuesView[Any]:  # type: ignore[override]
        """The context's values."""
        return self._values.values()

    def items(self) -> ItemsView[str, Any]:  # type: ignore[override]
        """The context's ``(name, value)`` pairs."""
        return self._values.items()

    def get(self, key: str, default: Any = None) -> Any:
        """The value named ``key``, else ``default``."""
        return self._values.get(key, default)

    def clear(self) -> None:
        """Remove every value."""
        self._values.clear()
