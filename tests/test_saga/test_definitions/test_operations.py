"""SagaOperation: callables, parameters and storing by import path."""

from __future__ import annotations

import pytest

from minos.saga import SagaCallbackException, SagaContext, SagaOperation
from tests.test_saga.utils import add_amount


def test_parameters():
    assert SagaOperation(add_amount).parameterized is False
    assert SagaOperation(add_amount).parameters is None
    operation = SagaOperation(add_amount, {"amount": 1}, other=2)
    assert operation.parameters == SagaContext(amount=1, other=2)
    assert operation.parameterized
    assert SagaOperation(add_amount, SagaContext(amount=3)).parameters == SagaContext(amount=3)
    assert SagaOperation(add_amount, amount=3) == SagaOperation(add_amount, {"amount": 3})


def test_not_callable():
    with pytest.raises(SagaCallbackException):
        SagaOperation("not callable")


def test_lambda_and_closure_not_serialisable():
    operation = SagaOperation(lambda context: context)
    with pytest.raises(SagaCallbackException):
        _ = operation.raw

    def closure(context):
        return context

    with pytest.raises(SagaCallbackException):
        _ = SagaOperation(closure).raw


def test_raw_round_trip():
    operation = SagaOperation(add_amount, amount=3)
    raw = operation.raw
    assert raw["callback"] == "tests.test_saga.utils.add_amount"
    assert SagaContext.from_avro_str(raw["parameters"]) == SagaContext(amount=3)
    assert SagaOperation.from_raw(raw) == operation
    assert SagaOperation.from_raw(None) is None
    assert SagaOperation.from_raw({"callback": "tests.test_saga.utils.add_amount"}) == SagaOperation(add_amount)
