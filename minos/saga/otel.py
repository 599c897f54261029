"""OpenTelemetry for sagas: traces and metrics, with the ``otel`` extra (``pip install minos-microservice-saga[otel]``).

On the orchestrator, :class:`OpenTelemetryInterceptor` (a :class:`~minos.saga.interceptors.SagaInterceptor`) opens a
span per run of an execution (``saga start`` / ``saga resume``), a child span per step's work (``saga step execute``,
``saga step reply``, ``saga step compensation``) and per commit, and writes the current trace context into the
headers of every message the saga sends (W3C ``traceparent``). Enable it in ``config.yml``::

    databases:
      saga:
        repository: minos.saga.PostgreSqlSagaExecutionRepository
        interceptors: [minos.saga.otel.OpenTelemetryInterceptor]

On a participant, the :func:`traced_command` broker middleware opens the handler's span as a child of the saga step
that sent the request, and passes its own context back in the reply, so the resumed run joins the same trace.

Metrics (meter ``minos.saga``): ``saga.executions.started``, ``saga.executions.finished``,
``saga.executions.compensated`` (counters), ``saga.executions.paused`` (up-down counter: executions this process
paused minus those it resumed), and ``saga.step.duration`` (histogram, seconds, by ``saga.step.phase``).

Nothing here is imported by the engine: without the extra (or without the interceptor configured) it costs nothing.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

try:
    from opentelemetry import metrics, propagate, trace
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "minos.saga.otel needs OpenTelemetry: install minos-microservice-saga[otel] (opentelemetry-api)."
    ) from exc

from minos.networks import REQUEST_HEADERS_CONTEXT_VAR, BrokerRequest, Request, Response

from .context import SagaContext
from .exceptions import SagaPausedExecutionStepException
from .executions import SagaStatus
from .interceptors import CommitInput, RunInput, SagaInterceptor, StepInput
from .utils import get_service_name

INSTRUMENTATION_NAME = "minos.saga"


class OpenTelemetryInterceptor(SagaInterceptor):
    """Spans and metrics for every run, step and commit; trace context in outgoing message headers.

    ``tracer_provider`` and ``meter_provider`` default to OpenTelemetry's global ones.
    """

    def __init__(self, tracer_provider: Any = None, meter_provider: Any = None):
        self._tracer = trace.get_tracer(INSTRUMENTATION_NAME, tracer_provider=tracer_provider)
        meter = metrics.get_meter(INSTRUMENTATION_NAME, meter_provider=meter_provider)
        self._started = meter.create_counter("saga.executions.started", description="Saga executions started")
        self._finished = meter.create_counter("saga.executions.finished", description="Saga executions finished")
        self._compensated = meter.create_counter(
            "saga.executions.compensated", description="Saga executions that failed and ran their compensations"
        )
        self._paused = meter.create_up_down_counter(
            "saga.executions.paused", description="Executions this process paused, minus those it resumed"
        )
        self._step_duration = meter.create_histogram(
            "saga.step.duration", unit="s", description="Time spent in a step's work (not waiting for its reply)"
        )

    async def run_saga(self, input: RunInput, proceed: Callable[[RunInput], Awaitable[None]]) -> None:
        """Trace one run of an execution as a span and count how it ended (finished, paused, compensated...)."""
        execution = input.execution
        resuming = input.response is not None
        attributes = {"saga.execution": str(execution.uuid), "saga.service": get_service_name()}
        with self._tracer.start_as_current_span(
            "saga resume" if resuming else "saga start", context=_incoming_context(), attributes=attributes
        ) as span:
            if resuming:
                self._paused.add(-1)
            else:
                self._started.add(1)
            try:
                await proceed(input)
            finally:
                span.set_attribute("saga.status", execution.status.raw)
                self._count_outcome(execution.status, execution.already_rollback)

    def _count_outcome(self, status: SagaStatus, compensated: bool) -> None:
        if status == SagaStatus.Paused:
            self._paused.add(1)
        elif status == SagaStatus.Finished:
            self._finished.add(1)
        elif status == SagaStatus.Errored and compensated:
            self._compensated.add(1)

    async def run_step(self, input: StepInput, proceed: Callable[[StepInput], Awaitable[SagaContext]]) -> SagaContext:
        """Trace one step's work (execute or compensate) as a span and record how long it took."""
        attributes: dict[str, Any] = {
            "saga.execution": str(input.execution.uuid),
            "saga.step.index": input.index,
            "saga.step.name": input.step_name,
            "saga.step.phase": input.phase,
        }
        started = time.perf_counter()
        with self._tracer.start_as_current_span(
            f"saga step {input.phase}", attributes=attributes, record_exception=False, set_status_on_exception=False
        ) as span:
            try:
                return await proceed(input)
            except SagaPausedExecutionStepException:
                span.set_attribute("saga.step.paused", True)  # waiting for a reply is not an error
                raise
            except Exception as exc:
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, repr(exc)))
                raise
            finally:
                duration = time.perf_counter() - started
                self._step_duration.record(duration, {"saga.step.phase": input.phase})

    async def commit(self, input: CommitInput, proceed: Callable[[CommitInput], Awaitable[None]]) -> None:
        """Trace the two-phase commit of an execution's transactions as a span."""
        attributes = {"saga.execution": str(input.execution.uuid)}
        with self._tracer.start_as_current_span("saga commit", attributes=attributes):
            await proceed(input)

    def outgoing_headers(self, headers: dict[str, str]) -> None:
        """Put the current trace context into a request's headers, so participants continue the trace."""
        propagate.inject(headers)


async def traced_command(request: Request, inner: Callable[[Request], Awaitable[Response | None]]) -> Response | None:
    """Broker middleware for participants: run the handler in a span that continues the trace of the saga step that
    sent the request, and carry its context back in the reply headers."""
    headers = dict(request.headers) if isinstance(request, BrokerRequest) else {}
    topic = request.raw.topic if isinstance(request, BrokerRequest) else type(request).__name__
    tracer = trace.get_tracer(INSTRUMENTATION_NAME)
    with tracer.start_as_current_span(
        f"handle {topic}",
        context=propagate.extract(headers),
        kind=SpanKind.CONSUMER,
        attributes={"messaging.destination.name": topic, "saga.service": get_service_name()},
    ):
        response = await inner(request)
        if (reply_headers := REQUEST_HEADERS_CONTEXT_VAR.get()) is not None:
            propagate.inject(reply_headers)
        return response


def _incoming_context() -> Any:
    """The trace context of the message being handled (a reply, or the request that starts the saga), if any."""
    headers = REQUEST_HEADERS_CONTEXT_VAR.get()
    return None if not headers else propagate.extract(dict(headers))
