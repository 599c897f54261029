"""A fast path for the avro form of plain saga contexts.

Stored executions hold their context as minos' avro string (a base64 avro container whose record is named
``minos.saga.context.<random>.SagaContext``). Minos builds it through its generic model encoder, which dominates the
cost of storing and loading an execution. Contexts usually hold JSON-like values (numbers, strings, booleans, None,
uuids, aware datetimes, lists, string-keyed dicts); for those this module writes and reads the same container with
``fastavro`` directly. Anything else returns ``None`` and the caller falls back to minos' encoder, so every value a
``BucketModel`` can hold still works. Both directions read each other's output.

Each context shape gets one header, and a header read once is found again by the start of a container's base64, so
encoding and decoding a context convert and parse little more than its record.
"""

from __future__ import annotations

import io
import json
from base64 import b64decode, b64encode
from collections.abc import Hashable, Iterable
from datetime import datetime
from functools import lru_cache
from math import copysign
from typing import Any, NamedTuple
from uuid import UUID, uuid4

from fastavro import parse_schema, reader, schemaless_reader, schemaless_writer, writer

from ._bounded import BoundedCache

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_SIMPLE = {"null", "boolean", "int", "long", "double", "string"}
_LOGICAL = {("string", "uuid"), ("long", "timestamp-micros")}
_SYNC_SIZE = 16  # an avro container ends its header, and each block, with this many sync bytes


class _Unsupported(Exception):
    """A value (or schema) outside the plain shapes this module handles."""


_SCALAR_SHAPES: dict[type, str] = {type(None): "null", bool: "boolean", float: "double", str: "string", UUID: "uuid"}
_LOGICAL_SCHEMAS = {
    "uuid": {"type": "string", "logicalType": "uuid"},
    "timestamp": {"type": "long", "logicalType": "timestamp-micros"},
}


def _shape(value: Any) -> Hashable:
    """A hashable stand-in for the avro schema of ``value``: a type name, or ``("array" | "map", items)``.

    Encoding computes the shape of every context it writes, and builds a schema (and a header) only for shapes it
    has not seen."""
    kind = type(value)
    if (scalar := _SCALAR_SHAPES.get(kind)) is not None:
        return scalar
    if kind is int:
        return "int" if _INT32_MIN <= value <= _INT32_MAX else "long"
    if kind is list:
        return ("array", _items_shape(value))
    if kind is dict:
        for key in value:
            if type(key) is not str:
                raise _Unsupported(value)
        return ("map", _items_shape(value.values()))
    if kind is datetime and value.tzinfo is not None:
        return "timestamp"
    raise _Unsupported(value)


def _items_shape(values: Iterable[Any]) -> Hashable:
    """The shape of a collection's items: one shape, or ``("union", ...)`` in order of first appearance."""
    options = tuple({_shape(value): None for value in values})  # a dict keeps one of each, in order
    return options[0] if len(options) == 1 else _union(options)


@lru_cache(maxsize=1024)
def _union(options: tuple[Hashable, ...]) -> Hashable:
    if not options:
        return "null"
    kinds = [_schema_type(option) for option in options]
    if len(set(kinds)) != len(kinds):  # avro unions cannot hold two arrays, two maps, two strings, ...
        raise _Unsupported(options)
    return ("union", *options)


def _schema_type(shape: Hashable) -> str:
    if isinstance(shape, tuple):
        return shape[0]
    return _LOGICAL_SCHEMAS[shape]["type"] if shape in _LOGICAL_SCHEMAS else shape  # type: ignore[return-value]


def _schema(shape: Hashable) -> Any:
    """The avro schema a shape stands for."""
    if not isinstance(shape, tuple):
        return _LOGICAL_SCHEMAS.get(shape, shape)  # type: ignore[call-overload]
    kind, *items = shape
    if kind == "union":
        return [_schema(option) for option in items]
    return {"type": kind, "items" if kind == "array" else "values": _schema(items[0])}


class _Header(NamedTuple):
    """A container header and the parsed writer schema of its records (``None`` when they are not plain).

    The base64 of a container starts with ``base64_prefix``, the base64 of the header's leading whole 3-byte groups,
    and goes on with the base64 of ``tail`` (the header's last bytes) and the data block: encoding and decoding a
    container of a known header convert only those."""

    schema: Any
    base64_prefix: str
    tail: bytes
    sync: bytes  # the marker that ends the header, and each data block


def _header(header: bytes, schema: Any) -> _Header:
    cut = len(header) - len(header) % 3
    return _Header(schema, b64encode(header[:cut]).decode(), header[cut:], header[-_SYNC_SIZE:])


# Headers met before, by the first characters of their containers' base64: enough to cover the random record name of
# the headers minos and this module write. A match is then checked against the whole prefix.
_LOOKUP_SIZE = 160
_KNOWN_HEADERS: BoundedCache[str, _Header] = BoundedCache(1024)


def _remember(header: _Header) -> _Header:
    return _KNOWN_HEADERS.keep(header.base64_prefix[:_LOOKUP_SIZE], header)


@lru_cache(maxsize=1024)
def _container(fields: tuple[tuple[str, Hashable], ...]) -> _Header:
    """The header of the containers of one context shape.

    Minos names each record ``minos.saga.context.<random>.SagaContext``; any name of that form reads back, so one
    name (and one header) serves every context of the same shape."""
    schema = {
        "type": "record",
        "name": f"minos.saga.context.{uuid4()}.SagaContext",
        "fields": [{"name": name, "type": _schema(shape)} for name, shape in fields],
    }
    parsed = parse_schema(schema)
    with io.BytesIO() as buffer:
        writer(buffer, parsed, [])  # with no records, fastavro writes only the header
        return _remember(_header(buffer.getvalue(), parsed))


def _long(value: int) -> bytes:
    """Avro's zig-zag varint encoding of a long."""
    value = (value << 1) ^ (value >> 63)
    encoded = bytearray()
    while value > 0x7F:
        encoded.append((value & 0x7F) | 0x80)
        value >>= 7
    encoded.append(value)
    return bytes(encoded)


def encode(values: dict[str, Any]) -> str | None:
    """The avro string of a context with these ``values``, or ``None`` when they need minos' encoder."""
    try:
        shapes = tuple([(name, _shape(value)) for name, value in values.items()])
    except _Unsupported:
        return None
    header = _container(shapes)
    with io.BytesIO() as buffer:
        schemaless_writer(buffer, header.schema, values)
        record = buffer.getvalue()
    block = _long(1) + _long(len(record)) + record + header.sync
    return header.base64_prefix + b64encode(header.tail + block).decode()


def encodes_alike(kept: Any, value: Any) -> bool:
    """Whether ``value`` is written exactly as ``kept``, a value :func:`encode` accepted: the same types all the way
    down, equal values, dict keys in the same order, and floats of the same sign (``0.0 == -0.0``, but avro writes
    their bits). A ``False`` only costs encoding again (``nan`` is never equal to itself)."""
    kind = type(value)
    if type(kept) is not kind:
        return False
    if kind is dict:
        return len(kept) == len(value) and all(
            kept_key == key and type(key) is str and encodes_alike(kept_item, item)
            for (kept_key, kept_item), (key, item) in zip(kept.items(), value.items())
        )
    if kind is list:
        return len(kept) == len(value) and all(map(encodes_alike, kept, value))
    if kind is float:
        return kept == value and copysign(1.0, kept) == copysign(1.0, value)
    return bool(kept == value)  # an aware datetime is written as its instant, which equality compares


def _is_plain(schema: Any) -> bool:
    if isinstance(schema, str):
        return schema in _SIMPLE
    if isinstance(schema, list):
        return all(_is_plain(option) for option in schema)
    kind = schema.get("type")
    if "logicalType" in schema:
        return (kind, schema["logicalType"]) in _LOGICAL
    if kind == "array":
        return _is_plain(schema["items"])
    if kind == "map":
        return _is_plain(schema["values"])
    return False


@lru_cache(maxsize=1024)
def _is_plain_record(schema_json: str) -> bool:
    schema = json.loads(schema_json)
    return (
        isinstance(schema, dict)
        and schema.get("type") == "record"
        and all(_is_plain(field["type"]) for field in schema["fields"])
    )


def _read_long(data: bytes, position: int) -> tuple[int, int]:
    """The zig-zag varint long at ``position`` and the position after it."""
    result = shift = 0
    while True:
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return (result >> 1) ^ -(result & 1), position
        shift += 7


def _header_size(data: bytes) -> int:
    """The length of an avro container's header: magic, metadata map, sync marker."""
    if not data.startswith(b"Obj\x01"):
        raise _Unsupported(data[:4])
    position = 4
    while True:
        count, position = _read_long(data, position)
        if count == 0:
            return position + _SYNC_SIZE
        if count < 0:  # a block that also gives its size in bytes
            count = -count
            _, position = _read_long(data, position)
        for _ in range(2 * count):  # each entry is a key and a value, both length-prefixed
            length, position = _read_long(data, position)
            position += length


def _read_header(raw: str) -> tuple[_Header, bytes]:
    """The header of the container whose base64 is ``raw``, and the container's bytes from the header's tail on."""
    known = _KNOWN_HEADERS.get(raw[:_LOOKUP_SIZE])
    if known is not None and raw.startswith(known.base64_prefix):
        rest = b64decode(raw[len(known.base64_prefix) :].encode())
        if rest.startswith(known.tail):
            return known, rest
    data = b64decode(raw.encode())
    size = _header_size(data)
    header = _remember(_parse_header(data[:size]))
    return header, data[size - len(header.tail) :]


@lru_cache(maxsize=1024)
def _parse_header(header: bytes) -> _Header:
    """A header read from a container, with the parsed writer schema of its records if plain and uncompressed."""
    with io.BytesIO(header) as buffer:
        metadata = reader(buffer).metadata
    if metadata.get("avro.codec", "null") != "null" or not _is_plain_record(metadata["avro.schema"]):
        return _header(header, None)
    return _header(header, parse_schema(json.loads(metadata["avro.schema"])))  # fastavro won't parse it again


def decode(raw: str) -> dict[str, Any] | None:
    """The values of a context's avro string, or ``None`` when it holds shapes that need minos' decoder."""
    try:
        header, data = _read_header(raw)
    except (_Unsupported, IndexError):
        return None
    if header.schema is None:
        return None
    count, position = _read_long(data, len(header.tail))
    size, position = _read_long(data, position)
    if count != 1 or position + size + _SYNC_SIZE != len(data):  # not the single record of a context
        return None
    with io.BytesIO(data[position : position + size]) as buffer:
        values = schemaless_reader(buffer, header.schema, None)
    return values if isinstance(values, dict) else None
