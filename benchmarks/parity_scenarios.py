"""Saga scenarios run verbatim on 0.7.0 and on this package by ``parity.py``; prints a JSON summary of each.

Everything a user can observe is recorded: what each ``execute`` call raised, the execution's status, context,
executed and paused steps (class, status, rollback flag, related services, inner executions) and every published
message (topic, content, headers, reply topic). Values random by nature (execution uuids) are masked.
"""

import asyncio
import json
import logging
import re
import uuid
from typing import Any

logging.disable(logging.CRITICAL)

import wiring  # noqa: E402  (benchmarks/wiring.py: this script's directory is on sys.path)
from minos.networks import REQUEST_HEADERS_CONTEXT_VAR  # noqa: E402

from minos.saga import Saga, SagaContext, SagaExecution, SagaManager, SagaRequest, SagaResponse  # noqa: E402
from minos.saga.executions.repositories import SagaExecutionRepository  # noqa: E402


class RecordingRepository(SagaExecutionRepository):
    """Keeps raw documents in memory and records each call the manager makes."""

    def __init__(self):
        super().__init__()
        self.documents, self.calls = {}, []

    async def _store(self, execution):
        self.calls.append(f"store {execution.status.value}")
        self.documents[execution.uuid] = execution.raw

    async def _load(self, uuid):
        self.calls.append("load")
        return SagaExecution.from_raw(self.documents[uuid])

    async def _delete(self, uuid):
        self.calls.append("delete")
        self.documents.pop(uuid, None)


def add(context, key, value):
    context[key] = value
    return context


def add_a(context):
    return add(context, "a", 1)


def add_b(context):
    return add(context, "b", 2)


def add_c(context):
    return add(context, "c", 3)


def compensate_a(context):
    return add(context, "compensated_a", True)


def compensate_b(context):
    return add(context, "compensated_b", True)


def fail(context):
    context["dirty"] = True
    raise ValueError("boom")


def with_parameter(context, value):
    return add(context, "value", value)


async def async_local(context):
    return add(context, "async", True)


def request(context):
    return SagaRequest("Do", {"x": context["x"]})


def request_2(context):
    return SagaRequest("Do2", {"x": context["x"]})


def failing_request(context):
    raise RuntimeError("cannot build the request")


def undo(context):
    return SagaRequest("Undo", {"x": context["x"]})


async def async_request(context):
    return SagaRequest("Async", None)


async def on_success(context, response):
    return add(context, "ok", await response.content())


async def on_error(context, response):
    return add(context, "error", await response.content())


async def returns_exception(context, response):
    return ValueError("bad reply")


async def raises(context, response):
    raise ValueError("refused")


def is_big(context):
    return context["x"] > 5


def broken_condition(context):
    raise ValueError("cannot decide")


def returns_dict(context):
    return {"x": context["x"] + 1, "from_dict": True}


async def failing_receive(self, *args, **kwargs):
    raise ConnectionError("the broker is down")


def summarize(execution) -> dict[str, Any]:
    def step(step_execution) -> dict[str, Any]:
        summary = {
            "cls": type(step_execution).__name__,
            "status": step_execution.status.value,
            "already_rollback": step_execution.already_rollback,
            "related_services": sorted(step_execution.related_services),
        }
        if getattr(step_execution, "inner", None) is not None:
            summary["inner"] = summarize(step_execution.inner)
        return summary

    return {
        "status": execution.status.value,
        "already_rollback": execution.already_rollback,
        "context": {key: repr(value) for key, value in execution.context.items()},
        "executed_steps": [step(executed) for executed in execution.executed_steps],
        "paused_step": None if execution.paused_step is None else step(execution.paused_step),
    }


def published(publisher) -> list[dict[str, Any]]:
    masked = {"saga": "<uuid>", "transactions": "<uuid>"}
    summaries = [
        {
            "topic": message.topic,
            "content": "<uuid>" if isinstance(message.content, uuid.UUID) else repr(message.content),
            "headers": {key: masked.get(key, value) for key, value in message.headers.items()},
            # a waiting broker client's topic is random; the fixed ones ("orderReply") are compared
            "reply_topic": "<client topic>"
            if re.fullmatch("[0-9a-f]{32}", message.reply_topic or "")
            else message.reply_topic,
        }
        for message in publisher.messages
    ]
    publisher.messages.clear()
    return summaries


async def scenario(name, saga, context, replies, publisher, autocommit=False) -> dict[str, Any]:
    execution = SagaExecution.from_definition(saga, SagaContext(**context))
    outcomes = []
    for reply in [None, *replies]:
        response = None if reply is None else SagaResponse(reply[1], {"svc"}, reply[0], execution.uuid)
        try:
            await execution.execute(response, autocommit=autocommit)
            outcomes.append("returned")
        except Exception as exc:
            cause = getattr(exc, "exception", None)
            outcomes.append(type(exc).__name__ + ("" if cause is None else f"/{type(cause).__name__}"))
    return {"name": name, "outcomes": outcomes, "execution": summarize(execution), "published": published(publisher)}


async def manager_scenario(name, saga, replies, injector, raise_on_error=True) -> dict[str, Any]:
    """Start ``saga`` with a ``SagaManager`` pausing on disk, then feed it ``replies`` as a reply handler would."""
    storage = RecordingRepository()
    manager = SagaManager(storage=storage, broker_pool=injector.pool_factory.get_pool("broker"))
    headers = {"related_services": "caller"}
    token = REQUEST_HEADERS_CONTEXT_VAR.set(headers)
    outcomes, execution = [], None
    try:
        for reply in [None, *replies]:
            try:
                if reply is None:
                    execution = await manager.run(
                        saga, SagaContext(x=1), pause_on_disk=True, autocommit=False, raise_on_error=raise_on_error
                    )
                else:
                    response = SagaResponse(reply[1], {"svc"}, reply[0], execution.uuid)
                    execution = await manager.run(
                        response=response, pause_on_disk=True, autocommit=False, raise_on_error=raise_on_error
                    )
                outcomes.append(execution.status.value)
            except Exception as exc:
                outcomes.append(type(exc).__name__)
    finally:
        REQUEST_HEADERS_CONTEXT_VAR.reset(token)
    published(injector.broker_publisher)
    related_services = sorted(headers["related_services"].split(","))  # 0.7.0 joins a set: its order is arbitrary
    return {"name": name, "outcomes": outcomes, "storage": storage.calls, "related_services": related_services}


async def outcome(awaitable) -> str:
    try:
        result = await awaitable
    except Exception as exc:
        cause = getattr(exc, "exception", None)
        return type(exc).__name__ + ("" if cause is None else f"/{type(cause).__name__}")
    return f"returned {type(result).__name__}"


async def step_scenarios(publisher) -> list[dict[str, Any]]:
    """Step executions used directly: compensating steps that never ran, running a finished local step again, a
    conditional step whose inner saga fails, and what a step holds before it runs."""
    from minos.saga import (
        ConditionalSagaStep,
        ConditionalSagaStepExecution,
        LocalSagaStep,
        LocalSagaStepExecution,
        RemoteSagaStep,
        RemoteSagaStepExecution,
    )

    uuid_ = uuid.uuid4()
    results = []
    never_ran = [
        LocalSagaStepExecution(LocalSagaStep(add_a, compensate_a)),
        RemoteSagaStepExecution(RemoteSagaStep(request, on_failure=undo)),
        ConditionalSagaStepExecution(ConditionalSagaStep().if_then(is_big, Saga().local_step(add_b).commit())),
    ]
    for step in never_ran:
        before = sorted(step.related_services)
        rolled_back = await outcome(step.rollback(SagaContext(x=1), execution_uuid=uuid_, user=None))
        results.append(
            {
                "name": f"rollback-never-ran-{type(step).__name__}",
                "outcomes": [rolled_back],
                "related_services_before": before,
                "status": step.status.value,
                "already_rollback": step.already_rollback,
                "published": published(publisher),
            }
        )
    local = LocalSagaStepExecution(LocalSagaStep(add_a))
    first = await outcome(local.execute(SagaContext(x=1), execution_uuid=uuid_))
    again = await local.execute(SagaContext(x=2), execution_uuid=uuid_)
    results.append(
        {
            "name": "finished-local-step-again",
            "outcomes": [first, repr(again)],
            "status": local.status.value,
            "related_services": sorted(local.related_services),
        }
    )
    inner_fails = ConditionalSagaStepExecution(
        ConditionalSagaStep().if_then(
            is_big, Saga().local_step(add_b).on_failure(compensate_b).local_step(fail).commit()
        )
    )
    failed = await outcome(inner_fails.execute(SagaContext(x=10), execution_uuid=uuid_))
    results.append(
        {
            "name": "conditional-inner-fails-step",
            "outcomes": [failed],
            "status": inner_fails.status.value,
            "related_services": sorted(inner_fails.related_services),
            "inner": summarize(inner_fails.inner),
            "published": published(publisher),
        }
    )
    return results


async def manager_receive_fails(injector) -> dict[str, Any]:
    """``SagaManager`` waiting for a reply in memory when the broker's receive fails."""
    from unittest.mock import patch

    from minos.networks import BrokerClient

    storage = RecordingRepository()
    manager = SagaManager(storage=storage, broker_pool=injector.pool_factory.get_pool("broker"))
    with patch.object(BrokerClient, "receive", failing_receive):
        raised = await outcome(manager.run(remote_saga(), SagaContext(x=1)))
        returned = await manager.run(remote_saga(), SagaContext(x=1), raise_on_error=False)
    stored = [summarize(SagaExecution.from_raw(document)) for document in storage.documents.values()]
    return {
        "name": "manager-memory-receive-fails",
        "outcomes": [raised, returned.status.value],
        "storage": [call for call in storage.calls if call != "store paused"],  # this package also stores on pausing
        "stored": stored,
        "published": published(injector.broker_publisher),
    }


async def transactional_command_scenarios() -> list[dict[str, Any]]:
    """A participant's handler that returns or raises, joining one or two saga transactions."""
    from minos.networks import BrokerMessageV1, BrokerMessageV1Payload, BrokerRequest, BrokerResponse

    from minos.saga import transactional_command

    results = []
    for transactions in ("a,b", "a"):
        for raises in (False, True):

            async def handler(request, raises=raises):
                if raises:
                    raise ValueError("refused")
                return BrokerResponse("done")

            headers = {"related_services": "caller", "transactions": transactions}
            request_transactions = ",".join(str(uuid.uuid4()) for _ in transactions.split(","))
            message = BrokerMessageV1(
                "Pay", BrokerMessageV1Payload("c", headers={"transactions": request_transactions})
            )
            token = REQUEST_HEADERS_CONTEXT_VAR.set(headers)
            try:
                handled = await outcome(transactional_command(BrokerRequest(message), handler))
            finally:
                REQUEST_HEADERS_CONTEXT_VAR.reset(token)
            # 0.7.0 joins a set: the order of related_services is arbitrary
            headers["related_services"] = sorted(headers["related_services"].split(","))
            results.append(
                {
                    "name": f"transactional-command-{transactions}-{'raises' if raises else 'returns'}",
                    "outcomes": [handled],
                    "headers": headers,
                }
            )
    return results


def remote_saga():
    return (
        Saga()
        .local_step(add_a)
        .on_failure(compensate_a)
        .remote_step(request)
        .on_success(on_success)
        .on_error(on_error)
        .on_failure(undo)
        .local_step(add_b)
        .commit()
    )


def conditional_saga():
    big = Saga().remote_step(request).on_success(on_success).on_failure(undo).commit()
    small = Saga().local_step(add_b).commit()
    return Saga().local_step(add_a).conditional_step().if_then(is_big, big).else_then(small).local_step(add_c).commit()


async def main() -> None:
    injector = await wiring.wire()
    publisher = injector.broker_publisher
    two_remotes = (
        Saga()
        .remote_step(request)
        .on_success(on_success)
        .on_failure(undo)
        .remote_step(request_2)
        .on_success(on_success)
        .on_failure(undo)
        .local_step(fail)
        .commit()
    )
    big_then_fail = Saga().remote_step(request).on_success(on_success).on_failure(undo).commit()
    failing_inner = Saga().local_step(add_b).on_failure(compensate_b).local_step(fail).commit()
    cases = [
        ("local-ok", Saga().local_step(add_a).on_failure(compensate_a).local_step(add_b).commit(), {"x": 1}, []),
        (
            "local-fail",
            Saga()
            .local_step(add_a)
            .on_failure(compensate_a)
            .local_step(add_b)
            .on_failure(compensate_b)
            .local_step(fail)
            .commit(),
            {"x": 1},
            [],
        ),
        ("remote-200", remote_saga(), {"x": 1}, [(200, {"r": 1})]),
        ("remote-400", remote_saga(), {"x": 1}, [(400, {"r": 1})]),
        ("remote-500", remote_saga(), {"x": 1}, [(500, "down")]),
        (
            "remote-400-raises",
            Saga().remote_step(request).on_error(raises).on_failure(undo).commit(),
            {"x": 1},
            [(400, "no")],
        ),
        (
            "remote-200-returns-exception",
            Saga().remote_step(request).on_success(returns_exception).on_failure(undo).commit(),
            {"x": 1},
            [(200, "no")],
        ),
        ("remote-400-no-handler", Saga().remote_step(request).on_success(on_success).commit(), {"x": 1}, [(400, "no")]),
        (
            "remote-request-fails",
            Saga().local_step(add_a).on_failure(compensate_a).remote_step(failing_request).commit(),
            {"x": 1},
            [],
        ),
        ("two-remotes-then-fail", two_remotes, {"x": 1}, [(200, 1), (200, 2)]),
        ("conditional-if", conditional_saga(), {"x": 10}, [(200, "y")]),
        ("conditional-else", conditional_saga(), {"x": 1}, []),
        (
            "conditional-then-fail",
            Saga()
            .local_step(add_a)
            .on_failure(compensate_a)
            .conditional_step()
            .if_then(is_big, big_then_fail)
            .local_step(fail)
            .commit(),
            {"x": 10},
            [(200, "y")],
        ),
        (
            "conditional-no-match",
            Saga().conditional_step().if_then(is_big, Saga().local_step(add_b).commit()).local_step(add_c).commit(),
            {"x": 1},
            [],
        ),
        (
            "conditional-inner-fails",
            Saga()
            .local_step(add_a)
            .on_failure(compensate_a)
            .conditional_step()
            .if_then(is_big, failing_inner)
            .commit(),
            {"x": 10},
            [],
        ),
        ("parameters", Saga().local_step(with_parameter, value=3).commit(), {"x": 1}, []),
        (
            "conditional-condition-raises",
            Saga()
            .local_step(add_a)
            .on_failure(compensate_a)
            .conditional_step()
            .if_then(broken_condition, Saga().local_step(add_b).commit())
            .commit(),
            {"x": 1},
            [],
        ),
        ("local-returns-dict-last", Saga().local_step(add_a).local_step(returns_dict).commit(), {"x": 1}, []),
        (
            "local-returns-dict-then-remote",
            Saga().local_step(returns_dict).remote_step(request).on_success(on_success).local_step(add_c).commit(),
            {"x": 1},
            [(200, "y")],
        ),
        (
            "async-callbacks",
            Saga().local_step(async_local).remote_step(async_request).on_success(on_success).commit(),
            {"x": 1},
            [(200, 5)],
        ),
    ]
    results = [await scenario(name, saga, context, replies, publisher) for name, saga, context, replies in cases]
    failing = Saga().local_step(add_a).on_failure(compensate_a).local_step(fail).commit()
    results.append(await scenario("local-fail-autocommit", failing, {"x": 1}, [], publisher, autocommit=True))
    results.append(await manager_scenario("manager-remote-200", remote_saga(), [(200, "y")], injector))
    results.append(await manager_scenario("manager-remote-500", remote_saga(), [(500, "down")], injector))
    results.append(
        await manager_scenario("manager-remote-500-no-raise", remote_saga(), [(500, "down")], injector, False)
    )
    results.append(await manager_scenario("manager-two-remotes", two_remotes, [(200, 1), (200, 2)], injector))
    results.append(await manager_scenario("manager-local-only", Saga().local_step(add_a).commit(), [], injector))
    results.append(await manager_receive_fails(injector))
    results.extend(await step_scenarios(publisher))
    results.extend(await transactional_command_scenarios())
    print(json.dumps(results, indent=1, sort_keys=True))


if __name__ == "__main__":
    asyncio.run(main())
