"""Saga definitions written by 0.7.0 load, validate and serialise back to the same document."""

from __future__ import annotations

from typing import Any

import pytest

from minos.saga import Saga, SagaContext
from tests.helpers import load_compat

DEFINITIONS = load_compat("definitions-0.7.0.json")


def decoded(raw: Any) -> Any:
    """``raw`` with each avro ``parameters`` string decoded: the strings embed random schema names."""
    if isinstance(raw, dict):
        return {
            key: dict(SagaContext.from_avro_str(value)) if key == "parameters" else decoded(value)
            for key, value in raw.items()
        }
    if isinstance(raw, list):
        return [decoded(item) for item in raw]
    return raw


@pytest.mark.parametrize("name", sorted(DEFINITIONS))
def test_loads_validates_and_serialises_back(name):
    saga = Saga.from_raw(DEFINITIONS[name])
    saga.validate()
    assert decoded(saga.raw) == decoded(DEFINITIONS[name])
    assert Saga.from_raw(saga.raw) == saga


def test_parameters_are_decoded():
    step = Saga.from_raw(DEFINITIONS["order"]).steps[-1]
    assert step.on_execute_operation.parameters == SagaContext(status="completed")
