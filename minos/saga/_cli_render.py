"""How ``minos-saga`` prints executions: the ``list`` table, the ``show`` description, one-line standings."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from datetime import timezone

from .context import SagaContext
from .definitions import ConditionalSagaStep, LocalSagaStep, RemoteSagaStep, SagaOperation, SagaStep
from .executions import SagaExecution, SagaExecutionSummary, SagaStatus
from .executions.decisions import stopping_decision
from .messages import SagaRequest

DONE = {"retry": "retried", "compensate": "compensated", "abandon": "abandoned"}
"""Each operator action as the outcome it leaves (``retry`` -> ``retried``)."""


def table(summaries: list[SagaExecutionSummary]) -> str:
    """The ``list`` output: one aligned row per execution, under a header."""
    if not summaries:
        return "no saga executions"
    header = ("UUID", "STATUS", "STEP", "SAGA", "USER", "UPDATED")
    rows = [
        (
            str(summary.uuid),
            summary.status.raw + (" (compensations stalled)" if summary.compensations_stalled else ""),
            f"{summary.step}/{summary.steps}",
            summary.saga or "-",
            "-" if summary.user is None else str(summary.user),
            summary.updated_at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        )
        for summary in summaries
    ]
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in [header, *rows]
    )


async def describe(execution: SagaExecution, summary: SagaExecutionSummary | None) -> str:
    """The ``show`` output: where the execution stands, its steps, context, pending messages and decisions."""
    lines = [f"execution  {execution.uuid}", f"status     {where(execution)}"]
    if summary is not None:
        lines.append(f"saga       {summary.saga or '-'}")
    lines.append(f"user       {execution.user or '-'}")
    if summary is not None:
        if summary.created_at is not None:
            lines.append(f"created    {summary.created_at.astimezone(timezone.utc).isoformat()}")
        lines.append(f"updated    {summary.updated_at.astimezone(timezone.utc).isoformat()}")
    lines += ["", "steps", *_step_lines(execution)]
    lines += ["", "context", *_context_lines(execution.context)]
    lines += await _pending_request_lines(execution)
    if execution.decisions:
        lines += ["", "operator decisions"]
        lines += [
            f"  {d.at.isoformat()}  {d.action}" + (f": {d.reason}" if d.reason else "") for d in execution.decisions
        ]
    return "\n".join(lines) + "\n"


def where(execution: SagaExecution) -> str:
    """Where an execution stands, in one line (status, steps done, compensation, operator stop)."""
    total = len(execution.definition.steps)
    done = len(execution.executed_steps)
    if execution.status == SagaStatus.Paused:
        return f"paused on step {done + 1} of {total}"
    if execution.status == SagaStatus.Errored:
        compensated = "compensated" if execution.already_rollback else "not compensated"
        if execution.compensations_stalled:
            compensated = "compensations stalled: retry sends them again"
        if (stopped := stopping_decision(execution.decisions)) is not None:
            return f"errored: {DONE[stopped.action]} by an operator after {done} of {total} steps ({compensated})"
        return f"errored after {done} of {total} steps ({compensated})"
    return f"{execution.status.raw} ({done} of {total} steps done)"


def _step_lines(execution: SagaExecution) -> list[str]:
    lines = []
    executed = len(execution.executed_steps)
    stopped = stopping_decision(execution.decisions) is not None
    for index, definition in enumerate(execution.definition.steps, start=1):
        if index <= executed:
            step = execution.executed_steps[index - 1]
            state = step.status.raw + (", compensated" if step.already_rollback else "")
        elif index == executed + 1 and execution.paused_step is not None:
            state = f"{execution.paused_step.status.raw}  <- waiting"
        elif index == executed + 1 and execution.status == SagaStatus.Errored and not stopped:
            state = "failed"
        else:
            state = "pending"
        lines.append(f"  {index}. {_step_name(definition):<48} {state}")
    return lines


def _step_name(step: SagaStep) -> str:
    if isinstance(step, RemoteSagaStep):
        return f"remote {_operation_name(step.on_execute_operation)}"
    if isinstance(step, LocalSagaStep):
        return f"local  {_operation_name(step.on_execute_operation)}"
    return "conditional" if isinstance(step, ConditionalSagaStep) else type(step).__name__


def _operation_name(operation: SagaOperation | None) -> str:
    if operation is None:
        return "-"
    callback = operation.callback
    return f"{getattr(callback, '__module__', '?')}.{getattr(callback, '__qualname__', repr(callback))}"


def _context_lines(context: SagaContext) -> list[str]:
    if not context:
        return ["  (empty)"]
    return [f"  {key}: {json.dumps(value, default=str)}" for key, value in context.items()]


async def _pending_request_lines(execution: SagaExecution) -> list[str]:
    """The messages the execution waits on or has not sent yet, as stored (with their attempts); for a document
    0.7.0 stored, the paused step's request rebuilt from the stored context by its request callback."""
    if execution.outbox:
        lines = ["", "pending messages"]
        for pending in execution.outbox:
            sent = f"sent {pending.sent_at.isoformat()}" if pending.sent_at is not None else "not sent yet"
            lines.append(f"  {pending.message.topic}  id {pending.identifier}  attempts {pending.attempts}, {sent}")
            lines.append(f"    content  {json.dumps(pending.message.content, default=str)}")
        return lines
    step = execution.paused_step
    if step is None or not isinstance(step.definition, RemoteSagaStep):
        return []
    lines = ["", "pending request"]
    request_id = getattr(step, "request_id", None)
    lines.append(f"  request id  {request_id or '- (stored by 0.7.0)'}")
    operation = step.definition.on_execute_operation
    if operation is None:
        return lines
    try:
        context = SagaContext.from_avro_str(execution.context.avro_str)  # a copy: the callback may change it
        request = operation.callback(context, **(operation.parameters or {}))
        if isinstance(request, Awaitable):
            request = await request
        if not isinstance(request, SagaRequest):
            return lines
        content = await request.content()
    except Exception as exc:  # the service's own callback: whatever it raises, show it and go on
        return [*lines, f"  (its request callback fails here: {exc!r})"]
    lines.append(f"  target      {request.target}  (rebuilt from the stored context)")
    lines.append(f"  content     {json.dumps(content, default=str)}")
    return lines
