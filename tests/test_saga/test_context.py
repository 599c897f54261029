"""SagaContext: mapping and attribute access, copies, avro serialisation of many value kinds."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from uuid import uuid4

import pytest

from minos.saga import SagaContext, _context_avro


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


def _replace_values(context, values):
    context.clear()
    context.update(values)


def _reorder(context):
    context["ones"] = {"y": 1, "x": 1}


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda context: context["items"].append(3), id="list item added in place"),
        pytest.param(lambda context: context["mapping"].__setitem__("a", 2), id="nested value changed in place"),
        pytest.param(lambda context: context.__setitem__("extra", 1), id="key added"),
        pytest.param(lambda context: context.__delitem__("text"), id="key removed"),
        pytest.param(_reorder, id="keys of a map reordered"),
        pytest.param(lambda context: context.__setitem__("number", True), id="1 becomes True"),
        pytest.param(lambda context: context.__setitem__("number", 1.0), id="1 becomes 1.0"),
        pytest.param(lambda context: context.__setitem__("real", -0.0), id="0.0 becomes -0.0"),
        pytest.param(lambda context: context["items"].__setitem__(0, "1"), id="1 becomes '1' in a list"),
        pytest.param(lambda context: context.__setitem__("text", date(2022, 5, 17)), id="a value for minos' encoder"),
        pytest.param(lambda context: context.__setitem__("when", datetime(2021, 1, 1)), id="aware datetime to naive"),
        pytest.param(lambda context: _replace_values(context, {"other": [1.5]}), id="every value replaced"),
    ],
)
def test_avro_str_follows_every_change_of_the_values(change):
    when = datetime(2021, 1, 1, tzinfo=timezone.utc)
    context = SagaContext(
        number=1, real=0.0, text="t", items=[1, 2], mapping={"a": 1, "b": [None]}, ones={"x": 1, "y": 1}, when=when
    )
    before = context.avro_str
    change(context)
    expected = SagaContext.from_avro_str(SagaContext(**dict(context)).avro_str)
    assert context.avro_str != before
    # repr tells 1 from 1.0 and True, and 0.0 from -0.0; the order of the keys counts too
    assert repr(SagaContext.from_avro_str(context.avro_str)) == repr(expected)


def test_avro_str_of_an_unchanged_context_is_the_same():
    when = datetime(2021, 1, 1, tzinfo=timezone.utc)
    context = SagaContext(items=[{"a": 1}], when=when)
    first = context.avro_str
    context["items"][0]["a"] = 1
    assert context.avro_str == first == SagaContext(items=[{"a": 1}], when=when).avro_str


def test_a_context_read_from_the_avro_str_just_written_is_its_own_copy():
    context = SagaContext(items=[{"a": 1}], mapping={"b": [2]})
    text = context.avro_str
    loaded = SagaContext.from_avro_str(text)
    loaded["items"][0]["a"] = 5
    loaded["mapping"]["b"].append(3)
    assert SagaContext.from_avro_str(text) == context == SagaContext(items=[{"a": 1}], mapping={"b": [2]})


@pytest.mark.parametrize(
    "values",
    [
        {"when": datetime(2021, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))},
        {"when": datetime(2021, 1, 1, 12, 0, 0, 7, tzinfo=timezone(timedelta(0)))},
        {"nested": [{"when": datetime(2021, 1, 1, tzinfo=timezone(timedelta(hours=-5)))}]},
        {"number": 2**40, "small": -3, "flag": False, "none": None, "real": -0.0, "nan": float("nan")},
        {"uuid": uuid4(), "text": "é", "empty": [], "mapping": {}, "mixed": [1, "a", None], "deep": [[{"x": [1]}]]},
    ],
    ids=["datetime-plus-2h", "datetime-zero-offset", "nested-datetime", "numbers", "others"],
)
def test_a_context_read_from_the_avro_str_just_written_is_what_decoding_gives(values):
    text = SagaContext(**values).avro_str
    decoded = _context_avro.decode(text)
    assert decoded is not None
    assert repr(SagaContext.from_avro_str(text)) == repr(SagaContext(**decoded))


def test_equality():
    assert SagaContext(a=1) == SagaContext(a=1)
    assert SagaContext(a=1) != SagaContext(a=2)
