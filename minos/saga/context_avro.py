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
from datetime import datetime
from functools import lru_cache
from typing import Any
from uuid import UUID, uuid4

from fastavro import parse_schema, reader, schemaless_writer, writer

_INT32 = range(-(2**31), 2**31)
_SIMPLE = {"null", "boolean", "int", "long", "double", "string"}
_LOGICAL = {("string", "uuid"), ("long", "timestamp-micros")}
_SYNC_SIZE = 16  # an avro container ends its header, and each block, with this many sync bytes


class _Unsupported(Exception):
    """A value (or schema) outside the plain shapes this module handles."""


def _schema_of(value: Any) -> Any:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int) and type(value) is int:
        return "int" if value in _INT32 else "long"
    if type(value) is float:
        return "double"
    if type(value) is str:
        return "string"
    if type(value) is UUID:
        return {"type": "string", "logicalType": "uuid"}
    if type(value) is datetime and value.tzinfo is not None:
        return {"type": "long", "logicalType": "timestamp-micros"}
    if type(value) is list:
        return {"type": "array", "items": _union(value)}
    if type(value) is dict and all(type(key) is str for key in value):
        return {"type": "map", "values": _union(value.values())}
    raise _Unsupported(value)


def _union(values: Any) -> Any:
    """The schema of a collection's items: one schema, or a union in order of first appearance."""
    options: list[Any] = []
    for value in values:
        schema = _schema_of(value)
        if schema not in options:
            options.append(schema)
    if not options:
        return "null"
    if len(options) == 1:
        return options[0]
    kinds = [option if isinstance(option, str) else option["type"] for option in options]
    if len(set(kinds)) != len(kinds):  # avro unions cannot hold two arrays, two maps, ...
        raise _Unsupported(values)
    return options


@lru_cache(maxsize=1024)
def _container(fields_json: str) -> tuple[Any, bytes]:
    """The parsed schema and the container header (ending in its sync marker) of one context shape.

    Minos names each record ``minos.saga.context.<random>.SagaContext``; any name of that form reads back, so one
    name (and one header) serves every context of the same shape."""
    schema = {"type": "record", "name": f"minos.saga.context.{uuid4()}.SagaContext", "fields": json.loads(fields_json)}
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
        fields = [{"name": name, "type": _schema_of(value)} for name, value in values.items()]
    except _Unsupported:
        return None
    schema, header = _container(json.dumps(fields))
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


def decode(raw: str) -> dict[str, Any] | None:
    """The values of a context's avro string, or ``None`` when it holds shapes that need minos' decoder."""
    with io.BytesIO(b64decode(raw.encode())) as buffer:
        records = reader(buffer)
        if not _is_plain_record(records.metadata["avro.schema"]):
            return None
        values = list(records)
    return values[0] if len(values) == 1 and isinstance(values[0], dict) else None
