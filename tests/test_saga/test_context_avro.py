"""The fast avro path of plain contexts writes and reads minos' own format, and steps aside for anything else."""

from __future__ import annotations

import io
from base64 import b64decode, b64encode
from datetime import date, datetime, timezone
from uuid import uuid4

import pytest
from fastavro import parse_schema, reader, writer
from minos.common import Model

from minos.saga import SagaContext, _context_avro
from tests.helpers import load_compat

PLAIN = {
    "order_id": 42,
    "customer": uuid4(),
    "items": [{"sku": "A-1", "qty": 2}, {"sku": "B-7", "qty": 1}],
    "total": 99.5,
    "created_at": datetime(2022, 5, 17, 9, 31, 28, tzinfo=timezone.utc),
    "note": None,
    "flags": [1, "a", None],
    "empty_list": [],
    "empty_dict": {},
    "negative": -5,
    "list_or_map": [[1], {"a": 1}],
    "text": "x" * 1000,
}


def minos_decode(raw: str) -> SagaContext:
    """Decode with minos' generic model machinery, bypassing the fast path."""
    return Model.from_avro_str.__func__(SagaContext, raw)


@pytest.mark.parametrize("document", load_compat("executions-0.7.0.json"), ids=lambda document: document["name"])
def test_reads_what_0_7_0_wrote(document):
    raw = document["raw"]["context"]
    fast = _context_avro.decode(raw)
    assert fast is not None
    assert SagaContext(**fast) == minos_decode(raw)
    assert {key: type(value) for key, value in fast.items()} == {
        key: type(value) for key, value in minos_decode(raw).items()
    }


def test_minos_reads_what_it_writes():
    raw = _context_avro.encode(PLAIN)
    assert raw is not None
    assert minos_decode(raw) == SagaContext(**PLAIN)
    assert _context_avro.decode(raw) == PLAIN


def test_documents_of_one_shape_share_a_header_but_not_data():
    first = _context_avro.encode({"a": 1})
    second = _context_avro.encode({"a": 2})
    assert first != second
    assert _context_avro.decode(first) == {"a": 1} and _context_avro.decode(second) == {"a": 2}


def test_ints_beyond_32_bits_are_longs():
    raw = _context_avro.encode({"big": 2**40})
    assert _context_avro.decode(raw) == {"big": 2**40}


@pytest.mark.parametrize(
    "value",
    [date(2022, 5, 17), datetime(2022, 5, 17), (1, 2), {1: "a"}, {"a": [date(2022, 5, 17)]}, [{"a": 1}, {"b": "x"}]],
    ids=["date", "naive-datetime", "tuple", "int-keys", "nested-date", "two-map-shapes"],
)
def test_other_values_step_aside(value):
    assert _context_avro.encode({"value": value}) is None


def test_contexts_of_other_values_use_minos_encoder():
    context = SagaContext(day=date(2022, 5, 17))
    assert SagaContext.from_avro_str(context.avro_str) == context


@pytest.mark.parametrize("length", [0, 50, 63, 64, 127, 128, 8191, 8192, 2**20])
def test_any_avro_reader_reads_the_single_record_whatever_its_size(length):
    # The record's size in bytes is written as a varint: one byte up to 63, more beyond.
    values = {"text": "x" * length, "count": -length}
    raw = _context_avro.encode(values)
    with io.BytesIO(b64decode(raw)) as buffer:
        assert list(reader(buffer)) == [values]
    assert _context_avro.decode(raw) == values


def container(
    fields: list[dict[str, str]], records: list[dict[str, object]], codec: str = "null", name: str = ""
) -> str:
    """The base64 of an avro container written by fastavro, its record named as minos names contexts."""
    schema = {"type": "record", "name": name or f"minos.saga.context.{uuid4()}.SagaContext", "fields": fields}
    with io.BytesIO() as buffer:
        writer(buffer, parse_schema(schema), records, codec=codec)
        return b64encode(buffer.getvalue()).decode()


def test_compressed_or_multi_record_containers_step_aside():
    fields = [{"name": "a", "type": "int"}]
    assert _context_avro.decode(container(fields, [{"a": 1}], codec="deflate")) is None
    assert _context_avro.decode(container(fields, [{"a": 1}, {"a": 2}])) is None


def test_containers_whose_headers_start_alike_read_with_their_own_schema():
    name = f"minos.saga.context.{uuid4()}.SagaContext"
    first = container([{"name": "first", "type": "int"}], [{"first": 1}], name=name)
    other = container([{"name": "other", "type": "int"}], [{"other": 2}], name=name)
    assert first[:200] == other[:200]  # the headers differ only after the record's name

    for _ in range(2):
        assert _context_avro.decode(first) == {"first": 1}
        assert _context_avro.decode(other) == {"other": 2}


def test_not_an_avro_container_steps_aside():
    assert _context_avro.decode(b64encode(b"not avro").decode()) is None
