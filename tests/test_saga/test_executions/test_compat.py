"""Documents written by 0.7.0 load into the recorded state and, when paused, resume into the recorded outcome."""

from __future__ import annotations

from typing import Any

import pytest

from minos.saga import (
    SagaExecution,
    SagaFailedExecutionException,
    SagaPausedExecutionStepException,
    SagaResponse,
)
from tests.helpers import load_compat

DOCUMENTS = load_compat("executions-0.7.0.json")


def summarize_step(step) -> dict[str, Any]:
    summary = {
        "already_rollback": step.already_rollback,
        "cls": type(step).__name__,
        "related_services": sorted(step.related_services),
        "status": step.status.raw,
    }
    if hasattr(step, "inner"):
        summary["inner"] = None if step.inner is None else summarize(step.inner)
    return summary


def summarize(execution: SagaExecution) -> dict[str, Any]:
    """The same summary the compat documents record, built from a live execution."""
    context = {
        key: (str(value) if not isinstance(value, (int, float, str, bool, list, dict, type(None))) else value)
        for key, value in execution.context.items()
    }
    return {
        "already_rollback": execution.already_rollback,
        "context": context,
        "executed_steps": [summarize_step(step) for step in execution.executed_steps],
        "paused_step": None if execution.paused_step is None else summarize_step(execution.paused_step),
        "status": execution.status.raw,
    }


@pytest.mark.parametrize("document", DOCUMENTS, ids=[document["name"] for document in DOCUMENTS])
async def test_loads_into_recorded_state(document, injector):
    execution = SagaExecution.from_raw(document["raw"])
    assert summarize(execution) == document["summary"]
    assert SagaExecution.from_raw(execution.raw) == execution


PAUSED = [document for document in DOCUMENTS if "then" in document]


@pytest.mark.parametrize("document", PAUSED, ids=[document["name"] for document in PAUSED])
async def test_resumes_into_recorded_outcome(document, injector):
    execution = SagaExecution.from_raw(document["raw"])
    reply = document["then"]["reply"]
    response = SagaResponse(reply["content"], set(reply["related_services"]), reply["status"], execution.uuid)

    expected = document["then"]["summary"]
    try:
        await execution.execute(response, autocommit=False)
    except SagaPausedExecutionStepException:
        assert expected["status"] == "paused"
    except SagaFailedExecutionException:
        assert expected["status"] == "errored"
    else:
        assert expected["status"] == "finished"
    assert summarize(execution) == expected
