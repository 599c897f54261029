"""OpenTelemetry: spans per run and step, trace context through broker headers to a participant and back, metrics.

Spans and metrics go to the SDK's in-memory exporter and reader.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator

import pytest
from minos.networks import (
    REQUEST_HEADERS_CONTEXT_VAR,
    BrokerMessageV1,
    BrokerMessageV1Payload,
    BrokerMessageV1Status,
    BrokerRequest,
    BrokerResponse,
)
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from minos.saga import InMemorySagaExecutionRepository, Saga, SagaManager, SagaResponse, SagaStatus
from minos.saga.otel import OpenTelemetryInterceptor, traced_command
from tests.test_saga.utils import (
    add_order,
    answer_reserves,
    responder,
    ticket_saga,
)

EXPORTER = InMemorySpanExporter()
TRACER_PROVIDER = TracerProvider()
TRACER_PROVIDER.add_span_processor(SimpleSpanProcessor(EXPORTER))


@pytest.fixture(scope="module", autouse=True)
def global_tracer_provider() -> None:
    # Participants' middleware uses the global provider, as a service configured by OpenTelemetry's SDK would.
    trace.set_tracer_provider(TRACER_PROVIDER)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    EXPORTER.clear()
    yield EXPORTER
    EXPORTER.clear()


@pytest.fixture
def metrics() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
async def manager(injector, broker_pool, metrics) -> SagaManager:
    interceptor = OpenTelemetryInterceptor(TRACER_PROVIDER, MeterProvider(metric_readers=[metrics]))
    manager = SagaManager(
        storage=InMemorySagaExecutionRepository(), broker_pool=broker_pool, interceptors=[interceptor]
    )
    await manager.setup()
    yield manager
    await manager.destroy()


async def participant_answers(request_message, status: int = 200) -> BrokerMessageV1:
    """A participant's handler behind ``traced_command``, run as minos' dispatcher runs it: the request headers in
    REQUEST_HEADERS_CONTEXT_VAR, echoed (as the handler left them) in the reply."""

    async def handler(request: BrokerRequest) -> BrokerResponse:
        return BrokerResponse("ticket-ok")

    token = REQUEST_HEADERS_CONTEXT_VAR.set(dict(request_message.headers))
    try:
        response = await traced_command(BrokerRequest(request_message), handler)
        headers = dict(REQUEST_HEADERS_CONTEXT_VAR.get())
    finally:
        REQUEST_HEADERS_CONTEXT_VAR.reset(token)
    payload = BrokerMessageV1Payload(await response.content(), headers=headers, status=BrokerMessageV1Status(status))
    return BrokerMessageV1(request_message.reply_topic, payload, identifier=request_message.identifier)


async def resume(manager: SagaManager, reply: BrokerMessageV1) -> None:
    """What SagaService does with a reply, in the dispatcher's header context."""
    token = REQUEST_HEADERS_CONTEXT_VAR.set(dict(reply.headers))
    try:
        response = SagaResponse.from_message(reply)
        await manager.run(response=response, pause_on_disk=True, raise_on_error=False, autocommit=False)
    finally:
        REQUEST_HEADERS_CONTEXT_VAR.reset(token)


def by_name(spans: InMemorySpanExporter) -> dict[str, list[ReadableSpan]]:
    named: dict[str, list[ReadableSpan]] = {}
    for span in spans.get_finished_spans():
        named.setdefault(span.name, []).append(span)
    return named


def metric_points(reader: InMemoryMetricReader) -> dict[str, list]:
    points: dict[str, list] = {}
    for resource_metrics in reader.get_metrics_data().resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                points[metric.name] = list(metric.data.data_points)
    return points


async def test_a_saga_and_its_participant_share_one_trace(manager, broker_publisher, spans, metrics):
    with TRACER_PROVIDER.get_tracer("test").start_as_current_span("POST /orders") as caller:
        execution = await manager.run(ticket_saga(), pause_on_disk=True, autocommit=False)
    assert execution.status == SagaStatus.Paused
    request = broker_publisher.messages[-1]
    assert request.headers["traceparent"].split("-")[1] == format(caller.get_span_context().trace_id, "032x")

    await resume(manager, await participant_answers(request))

    named = by_name(spans)
    start, resumed = named["saga start"][0], named["saga resume"][0]
    handler = named["handle CreateTicket"][0]
    local, remote = named["saga step execute"]
    reply = named["saga step reply"][0]
    assert {span.context.trace_id for span in spans.get_finished_spans()} == {caller.get_span_context().trace_id}
    assert start.parent.span_id == caller.get_span_context().span_id
    assert local.parent.span_id == remote.parent.span_id == start.context.span_id
    assert handler.parent.span_id == remote.context.span_id  # the participant continues the step that asked
    assert resumed.parent.span_id == handler.context.span_id  # and the reply brings the trace back
    assert reply.parent.span_id == resumed.context.span_id
    assert (local.attributes["saga.step.index"], remote.attributes["saga.step.index"]) == (1, 2)
    assert remote.attributes["saga.step.name"] == "remote send_create_ticket"
    assert remote.attributes["saga.step.paused"] is True and remote.status.status_code != StatusCode.ERROR
    assert (start.attributes["saga.status"], resumed.attributes["saga.status"]) == ("paused", "finished")
    assert start.attributes["saga.execution"] == str(execution.uuid)

    points = metric_points(metrics)
    assert [point.value for point in points["saga.executions.started"]] == [1]
    assert [point.value for point in points["saga.executions.finished"]] == [1]
    assert [point.value for point in points["saga.executions.paused"]] == [0]  # paused once, resumed once
    durations = {point.attributes["saga.step.phase"]: point.count for point in points["saga.step.duration"]}
    assert durations == {"execute": 2, "reply": 1}


async def test_a_failed_step_and_its_compensations_are_traced(manager, broker_publisher, spans, metrics):
    await manager.run(ticket_saga(), pause_on_disk=True, autocommit=False)
    request = broker_publisher.messages[-1]
    await resume(manager, await participant_answers(request, status=500))

    named = by_name(spans)
    failed = named["saga step reply"][0]
    assert failed.status.status_code == StatusCode.ERROR
    compensations = named["saga step compensation"]
    assert [(span.attributes["saga.step.index"], span.attributes["saga.step.name"]) for span in compensations] == [
        (1, "local add_order")
    ]
    assert compensations[0].parent.span_id == named["saga resume"][0].context.span_id
    assert named["saga resume"][0].attributes["saga.status"] == "errored"
    assert [point.value for point in metric_points(metrics)["saga.executions.compensated"]] == [1]


async def test_without_interceptors_messages_carry_no_trace_context(injector, broker_pool, broker_publisher, spans):
    manager = SagaManager(storage=InMemorySagaExecutionRepository(), broker_pool=broker_pool)
    with TRACER_PROVIDER.get_tracer("test").start_as_current_span("POST /orders"):
        await manager.run(ticket_saga(), pause_on_disk=True, autocommit=False)
    assert "traceparent" not in broker_publisher.messages[-1].headers
    assert [span.name for span in spans.get_finished_spans()] == ["POST /orders"]


def test_the_engine_does_not_import_opentelemetry():
    code = "import sys, minos.saga; print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr


async def test_the_commit_is_traced(manager, broker_publisher, spans):
    async with responder(broker_publisher, answer_reserves(200)):
        execution = await asyncio.wait_for(manager.run(Saga().local_step(add_order).commit()), 5)
    assert execution.status == SagaStatus.Finished
    [commit] = by_name(spans)["saga commit"]
    assert commit.attributes["saga.execution"] == str(execution.uuid)
    assert commit.status.status_code != StatusCode.ERROR
