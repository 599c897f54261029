"""A fast path for the avro form of plain saga contexts.

Stored executions hold their context as minos' avro string (a base64 avro container whose record is named
``minos.saga.context.<random>.SagaContext``). Minos builds it through its generic model encoder, which dominates the
cost of storing and loading an execution. Contexts usually hold JSON-like values (numbers, strings, booleans, None,
uuids, aware datetimes, lists, string-keyed dicts); for those this module writes and reads the same container with
``fastavro`` directly. Anything else returns ``None`` and the caller falls back to minos' encoder, so every value a
``BucketModel`` can hold still works. Both directions read each other's output.
"""

from __future__ import annotations

import io
import json
from base64 import b64decode, b64encode
from collections.abc import Hashable
from datetime import datetime
from functools import lru_cache
from typing import Any
from uuid import UUID, uuid4

from fastavro import parse_schema, reader, schemaless_reader, schemaless_writer, writer

_INT32 = range(-(2**31), 2**31)
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
        return "int" if value in _INT32 else "long"
    if kind is datetime and value.tzinfo is not None:
        return "timestamp"
    if kind is list:
        return ("array", _items_shape(value))
    if kind is dict and all(type(key) is str for key in value):
        return ("map", _items_shape(value.values()))
    raise _Unsupported(value)


def _items_shape(values: Any) -> Hashable:
    """The shape of a collection's items: one shape, or ``("union", ...)`` in order of first appearance."""
    options: list[Hashable] = []
    for value in values:
        shape = _shape(value)
        if shape not in options:
            options.append(shape)
    if not options:
        return "null"
    if len(options) == 1:
        return options[0]
    kinds = [_schema_type(option) for option in options]
    if len(set(kinds)) != len(kinds):  # avro unions cannot hold two arrays, two maps, two strings, ...
        raise _Unsupported(values)
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


@lru_cache(maxsize=1024)
def _container(fields: tuple[tuple[str, Hashable], ...]) -> tuple[Any, bytes]:
    """The parsed schema and the container header (ending in its sync marker) of one context shape.

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
        return parsed, buffer.getvalue()


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
        shapes = tuple((name, _shape(value)) for name, value in values.items())
    except _Unsupported:
        return None
    schema, header = _container(shapes)
    with io.BytesIO() as buffer:
        schemaless_writer(buffer, schema, values)
        record = buffer.getvalue()
    block = _long(1) + _long(len(record)) + record + header[-_SYNC_SIZE:]
    return b64encode(header + block).decode()


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


@lru_cache(maxsize=1024)
def _record_schema(header: bytes) -> Any:
    """The parsed writer schema of a container header whose records are plain and uncompressed, else ``None``.

    Decoding then parses each header once; the containers this module writes share one header per context shape."""
    with io.BytesIO(header) as buffer:
        metadata = reader(buffer).metadata
    if metadata.get("avro.codec", "null") != "null" or not _is_plain_record(metadata["avro.schema"]):
        return None
    return parse_schema(json.loads(metadata["avro.schema"]))  # parsed by fastavro: its readers skip parsing it again


def decode(raw: str) -> dict[str, Any] | None:
    """The values of a context's avro string, or ``None`` when it holds shapes that need minos' decoder."""
    data = b64decode(raw.encode())
    try:
        header_size = _header_size(data)
    except (_Unsupported, IndexError):
        return None
    schema = _record_schema(data[:header_size])
    if schema is None:
        return None
    count, position = _read_long(data, header_size)
    size, position = _read_long(data, position)
    if count != 1 or position + size + _SYNC_SIZE != len(data):  # not the single record of a context
        return None
    with io.BytesIO(data[position : position + size]) as buffer:
        values = schemaless_reader(buffer, schema, None)
    return values if isinstance(values, dict) else None
