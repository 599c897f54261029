"""SagaExecution documents: raw, from_raw and the orchestrator metadata."""

from __future__ import annotations

from uuid import uuid4

import pytest

from minos.saga import (
    Saga,
    SagaContext,
    SagaExecution,
    SagaPausedExecutionStepException,
    SagaStatus,
)
from tests.test_saga.test_executions.helpers import (
    answer,
    conditional_definition,
    paused,
    remote_definition,
    reply,
    two_remote_definition,
)
from tests.test_saga.utils import handle_payment, handle_ticket, send_create_payment, send_create_ticket

pytestmark = pytest.mark.usefixtures("injector")


# -- raw ----------------------------------------------------------------------------------------------------------


async def test_raw_round_trip_paused(broker_publisher):
    execution = await paused(conditional_definition(), SagaContext(amount=20))
    loaded = SagaExecution.from_raw(execution.raw)
    assert loaded == execution
    assert await loaded.execute(reply(loaded, "p"), autocommit=False) == SagaContext(amount=20, payment="p")


async def test_raw_fields():
    user = uuid4()
    execution = SagaExecution.from_definition(remote_definition(), SagaContext(a=1), user=user)
    raw = execution.raw
    assert raw["uuid"] == str(execution.uuid)
    assert raw["status"] == "created"
    assert raw["user"] == str(user)
    assert raw["executed_steps"] == [] and raw["paused_step"] is None
    assert SagaContext.from_avro_str(raw["context"]) == SagaContext(a=1)
    assert raw["definition"] == remote_definition().raw


STEP_KEYS = {"cls", "definition", "status", "related_services", "already_rollback"}  # 0.7.0's step document keys
EXECUTION_KEYS = {
    "definition",
    "uuid",
    "status",
    "executed_steps",
    "paused_step",
    "context",
    "already_rollback",
    "user",
}


async def test_documents_keep_0_7_0_keys_and_metadata_only_while_paused(broker_publisher):
    execution = await paused(conditional_definition(), SagaContext(amount=20))
    [request] = broker_publisher.messages
    raw = execution.raw
    assert set(raw) == EXECUTION_KEYS | {"orchestrator"}
    assert raw["orchestrator"] == {"format": 3, "awaiting": str(request.identifier)}
    assert set(raw["paused_step"]) == STEP_KEYS | {"inner"}
    assert set(raw["paused_step"]["inner"]) == EXECUTION_KEYS
    assert set(raw["paused_step"]["inner"]["paused_step"]) == STEP_KEYS

    await execution.execute(answer(execution, request), autocommit=False)
    assert execution.status == SagaStatus.Finished
    assert set(execution.raw) == EXECUTION_KEYS


async def test_the_awaited_request_survives_a_reload_and_equality_ignores_it(broker_publisher):
    execution = await paused(conditional_definition(), SagaContext(amount=20))
    [request] = broker_publisher.messages
    loaded = SagaExecution.from_raw(execution.raw)
    assert loaded.awaited_request == request.identifier
    without = SagaExecution.from_raw({key: value for key, value in execution.raw.items() if key != "orchestrator"})
    assert without.awaited_request is None and without == loaded


async def test_a_duplicated_reply_is_not_applied_to_the_next_step(broker_publisher):
    execution = await paused(two_remote_definition(), SagaContext(amount=2))
    first = broker_publisher.messages[-1]
    with pytest.raises(SagaPausedExecutionStepException):
        await execution.execute(answer(execution, first, "t"), autocommit=False)
    execution = SagaExecution.from_raw(execution.raw)
    from minos.saga import SagaResponseMismatchException

    with pytest.raises(SagaResponseMismatchException):
        await execution.execute(answer(execution, first, "t again"), autocommit=False)
    assert execution.status == SagaStatus.Paused and "payment" not in execution.context
    second = broker_publisher.messages[-1]
    assert second.topic == "CreatePayment" and "saga_request" not in second.headers
    await execution.execute(answer(execution, second, "p"), autocommit=False)
    assert execution.context == SagaContext(amount=2, ticket="t", payment="p")


def test_from_raw_newer_version_raises():
    from minos.saga import SagaExecutionFormatException

    raw = SagaExecution.from_definition(remote_definition()).raw
    raw["orchestrator"] = {"format": 999}
    with pytest.raises(SagaExecutionFormatException):
        SagaExecution.from_raw(raw)


@pytest.mark.parametrize("key", ["definition", "uuid", "status", "context"])
def test_from_raw_missing_key(key):
    from minos.saga import SagaExecutionFormatException

    raw = SagaExecution.from_definition(remote_definition()).raw
    del raw[key]
    with pytest.raises(SagaExecutionFormatException):
        SagaExecution.from_raw(raw)


def test_from_raw_unknown_step_class():
    from minos.saga import SagaExecutionFormatException

    raw = SagaExecution.from_definition(remote_definition()).raw
    raw["executed_steps"] = [
        {
            "cls": "tests.nowhere.Step",
            "definition": raw["definition"]["steps"][0],
            "status": "finished",
            "related_services": ["order"],
            "already_rollback": False,
        }
    ]
    with pytest.raises(SagaExecutionFormatException):
        SagaExecution.from_raw(raw)


@pytest.mark.parametrize(
    "change",
    [
        {"status": "nonsense"},
        {"related_services": 5},
        {"cls": "minos.saga.SagaContext"},
    ],
)
def test_from_raw_invalid_executed_step(change):
    from minos.saga import SagaExecutionFormatException

    raw = SagaExecution.from_definition(remote_definition()).raw
    step = {
        "cls": "minos.saga.executions.steps.remote.RemoteSagaStepExecution",
        "definition": raw["definition"]["steps"][0],
        "status": "finished",
        "related_services": ["order"],
        "already_rollback": False,
    }
    raw["executed_steps"] = [step | change]
    with pytest.raises(SagaExecutionFormatException):
        SagaExecution.from_raw(raw)


def test_executions_of_one_committed_definition_share_its_parse():
    first = SagaExecution.from_raw(SagaExecution.from_definition(two_remote_definition()).raw)
    second = SagaExecution.from_raw(SagaExecution.from_definition(two_remote_definition()).raw)
    assert first.definition is second.definition


def test_a_document_changed_after_loading_loads_as_changed():
    definition = (  # a definition loaded only here (its parameters are unique)
        Saga()
        .remote_step(send_create_ticket)
        .on_success(handle_ticket, run=uuid4())
        .remote_step(send_create_payment)
        .on_success(handle_payment)
        .commit()
    )
    raw = SagaExecution.from_definition(definition).raw
    SagaExecution.from_raw(raw)
    raw["definition"]["steps"][1]["on_success"] = raw["definition"]["steps"][0]["on_success"]

    loaded = SagaExecution.from_raw(raw)

    assert loaded.definition.raw == raw["definition"]
    assert loaded.definition != definition
