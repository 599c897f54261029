"""SagaContext: mapping and attribute access, copies, avro serialisation of many value kinds."""

from __future__ import annotations

from datetime import datetime, timezone
from uuid import uuid4

import pytest

from minos.saga import SagaContext


def test_item_and_attribute_access():
    context = SagaContext(a=1)
    context["b"] = "x"
    context.c = None
    assert context["a"] == 1 and context.b == "x" and context["c"] is None
    assert set(context) == {"a", "b", "c"} and len(context) == 3
    del context["a"]
    del context.b
    assert dict(context) == {"c": None}
    with pytest.raises(KeyError):
        context["missing"]
    with pytest.raises(AttributeError):
        _ = context.missing
    assert context.get("missing", 5) == 5
    assert "c" in context


def test_dict_methods():
    context = SagaContext(a=1, b=2)
    assert list(context.keys()) == ["a", "b"]
    assert list(context.values()) == [1, 2]
    assert list(context.items()) == [("a", 1), ("b", 2)]
    context.update(c=3)
    assert context.pop("c") == 3
    assert context.setdefault("d", 4) == 4
    context.clear()
    assert len(context) == 0


def test_copy_is_independent():
    context = SagaContext(items=[1, 2], nested={"a": 1})
    copy = context.copy()
    copy["items"].append(3)
    copy["nested"]["b"] = 2
    assert context == SagaContext(items=[1, 2], nested={"a": 1})


def test_avro_round_trip():
    uuid = uuid4()
    when = datetime(2021, 1, 1, tzinfo=timezone.utc)
    context = SagaContext(
        number=1, real=1.5, text="t", none=None, items=[1, 2], mapping={"a": 1}, uuid=uuid, when=when, flag=True
    )
    loaded = SagaContext.from_avro_str(context.avro_str)
    assert loaded == context
    assert loaded.uuid == uuid and loaded.when == when


def test_equality():
    assert SagaContext(a=1) == SagaContext(a=1)
    assert SagaContext(a=1) != SagaContext(a=2)
