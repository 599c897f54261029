"""``minos-saga``: see and steer a service's sagas from its own ``config.yml``.

Run it in the service's directory (its sagas' callbacks must import, as they do for the service)::

    minos-saga list --status paused --older-than 10m
    minos-saga show 5b8f...
    minos-saga diagram 5b8f... > saga.mmd
    minos-saga retry 5b8f... --reason "stock service was down"

It opens the saga storage the way ``SagaManager.from_config`` does: the class the ``saga`` database's
``repository`` key names, with that entry's connection settings.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional, TypeVar

import typer
from minos.common import Config, ConnectionException, DependencyInjector, MinosConfigException
from minos.networks import BrokerClientPool, BrokerPublisher

from .context import SagaContext
from .definitions import ConditionalSagaStep, LocalSagaStep, RemoteSagaStep, SagaOperation, SagaStep
from .exceptions import (
    SagaExecutionFormatException,
    SagaExecutionNotFoundException,
    SagaOperatorActionException,
    SagaRollbackExecutionException,
)
from .executions import (
    SagaExecution,
    SagaExecutionLister,
    SagaExecutionRepository,
    SagaExecutionSummary,
    SagaStatus,
    execution_to_mermaid,
)
from .executions.decisions import stopping_decision
from .manager import SagaManager, _saga_database, _storage_from_config
from .messages import SagaRequest

app = typer.Typer(
    name="minos-saga",
    help="See and steer the sagas of a Minos service, from its config.yml.",
    no_args_is_help=True,
    add_completion=False,
)

ConfigOption = typer.Option(
    Path("config.yml"), "--config", "-c", help="The service's config file.", envvar="MINOS_CONFIG"
)

UuidArgument = typer.Argument(..., help="The execution's uuid.")

_T = TypeVar("_T")


class CliError(Exception):
    """An error the CLI reports in one line, exiting with ``exit_code``."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


def main() -> None:
    """The ``minos-saga`` console script."""
    app()


@app.command("list")
def list_(
    config: Path = ConfigOption,
    status: Optional[str] = typer.Option(None, help="created, running, paused, finished or errored."),  # noqa: UP045
    saga: Optional[str] = typer.Option(None, help="The saga: its first step's callback path, or its last part."),  # noqa: UP045
    user: Optional[str] = typer.Option(None, help="The uuid of the user that ran it."),  # noqa: UP045
    older_than: Optional[str] = typer.Option(None, help="Last stored longer ago than this: 30s, 10m, 2h, 7d."),  # noqa: UP045
    newer_than: Optional[str] = typer.Option(None, help="Last stored within this: 30s, 10m, 2h, 7d."),  # noqa: UP045
    after: Optional[str] = typer.Option(None, help="The cursor a previous page printed."),  # noqa: UP045
    limit: int = typer.Option(50, help="At most this many (1 to 1000)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document: the executions and the next cursor."),
) -> None:
    """List stored saga executions, least recently stored first."""
    now = datetime.now(timezone.utc)
    filters: dict[str, Any] = dict(status=status, saga=saga, user=user, after=after, limit=limit)
    if older_than is not None:
        filters["updated_before"] = now - _duration(older_than)
    if newer_than is not None:
        filters["updated_after"] = now - _duration(newer_than)

    async def list_page(_: Config, storage: SagaExecutionRepository) -> list[SagaExecutionSummary]:
        try:
            return await _lister(storage).list(**filters)
        except (TypeError, ValueError) as exc:
            raise CliError(str(exc), 2) from exc

    summaries = _run(config, list_page)
    next_cursor = str(summaries[-1].cursor) if len(summaries) == limit else None
    if as_json:
        typer.echo(json.dumps({"executions": [s.json for s in summaries], "next": next_cursor}, indent=2))
        return
    typer.echo(_table(summaries))
    if next_cursor is not None:
        typer.echo(f"\nmore: --after {next_cursor}")


@app.command()
def show(uuid: str = UuidArgument, config: Path = ConfigOption) -> None:
    """Show one execution: its steps and where it stands, its context, the request it waits on, its timestamps."""

    async def describe(_: Config, storage: SagaExecutionRepository) -> str:
        execution = await storage.load(uuid)
        summary = None
        if isinstance(storage, SagaExecutionLister):
            summary = next(iter(await storage.list(uuid=execution.uuid)), None)
        return await _describe(execution, summary)

    typer.echo(_run(config, describe), nl=False)


@app.command()
def diagram(uuid: str = UuidArgument, config: Path = ConfigOption) -> None:
    """Print the Mermaid flowchart of the execution's saga with its progress marked."""

    async def render(_: Config, storage: SagaExecutionRepository) -> str:
        return execution_to_mermaid(await storage.load(uuid))

    typer.echo(_run(config, render), nl=False)


Work = Callable[[Config, SagaExecutionRepository], Awaitable[_T]]


_ACTIONS = {
    "retry": ("retried", "Re-send the request a paused execution waits on, with its original message identity."),
    "compensate": (
        "compensated",
        "Compensate a paused execution now, its in-flight step included; late replies are then ignored.",
    ),
    "abandon": (
        "abandoned",
        "Stop an execution for good without sending anything more (settled by hand); late replies are ignored.",
    ),
}
ReasonOption = typer.Option(None, help="Why, recorded with the decision.")


def _action_command(action: str, summary: str) -> None:
    """Register the ``minos-saga ACTION UUID [--reason]`` command of one of SagaManager's operator actions."""

    def command(uuid: str = UuidArgument, reason: Optional[str] = ReasonOption, config: Path = ConfigOption) -> None:  # noqa: UP045
        _act(config, action, uuid, reason)

    command.__doc__ = summary
    app.command(action)(command)


for _action, (_, _summary) in _ACTIONS.items():
    _action_command(_action, _summary)


def _act(config_path: Path, action: str, uuid: str, reason: str | None) -> None:
    """Run one of SagaManager's operator actions with the service's storage and broker publisher."""

    async def act(config: Config, storage: SagaExecutionRepository) -> str:
        publisher = _broker_publisher(config)
        # Steps read the service's name (reply topics) and publisher from minos' injections, as in the service.
        injector = DependencyInjector(config, [publisher])
        await injector.wire_and_setup_injections(modules=[sys.modules[__package__]])
        try:
            manager = SagaManager(
                storage=storage, broker_pool=BrokerClientPool.from_config(config), broker_publisher=publisher
            )
            execution = await getattr(manager, action)(uuid, reason=reason)
        except SagaOperatorActionException as exc:
            raise CliError(str(exc), 6) from exc
        except SagaRollbackExecutionException as exc:
            raise CliError(f"a compensation failed (the outcome is stored; see minos-saga show): {exc}", 7) from exc
        finally:
            await injector.unwire_and_destroy_injections()
        return f"{_ACTIONS[action][0]} {execution.uuid}: {_where(execution)}"

    typer.echo(_run(config_path, act))


def _broker_publisher(config: Config) -> BrokerPublisher:
    """The broker publisher the service's config names (``interfaces.broker.publisher.client``)."""
    try:
        publisher_cls = config.get_interface_by_name("broker")["publisher"]["client"]
    except (MinosConfigException, KeyError, TypeError) as exc:
        raise CliError(
            "the config names no broker publisher (interfaces: broker: publisher: client): minos-saga cannot send", 2
        ) from exc
    return publisher_cls.from_config(config)


def _run(config_path: Path, work: Work[_T]) -> _T:
    """Open the storage ``config_path`` names, run ``work`` on it and close it; report errors in one line."""
    try:
        with _importable_service(config_path):
            return asyncio.run(_with_storage(config_path, work))
    except CliError as exc:
        typer.echo(f"minos-saga: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None


async def _with_storage(config_path: Path, work: Work[_T]) -> _T:
    async with _storage(config_path) as (config, storage):
        try:
            return await work(config, storage)
        except SagaExecutionNotFoundException as exc:
            raise CliError(f"no such saga execution: {exc}", 4) from exc
        except SagaExecutionFormatException as exc:
            raise CliError(
                f"the execution cannot be read here ({exc}); run minos-saga where the service's saga callbacks import",
                5,
            ) from exc
        except ConnectionException as exc:
            raise CliError(f"the saga storage is unreachable: {exc}", 3) from exc


@asynccontextmanager
async def _storage(config_path: Path) -> AsyncIterator[tuple[Config, SagaExecutionRepository]]:
    if not config_path.is_file():
        raise CliError(f"no config file at {config_path} (pass --config PATH)", 2)
    try:
        config = Config(config_path)
        database = _saga_database(config)
    except MinosConfigException as exc:
        raise CliError(f"{config_path} is not a Minos config: {exc}", 2) from exc
    if not database.get("repository"):
        raise CliError(
            f"{config_path} names no saga storage minos-saga can open: add a 'saga' database with a 'repository' "
            "key (e.g. repository: minos.saga.PostgreSqlSagaExecutionRepository)",
            2,
        )
    try:
        storage = _storage_from_config(config)
    except (ImportError, AttributeError, TypeError, MinosConfigException) as exc:
        raise CliError(f"the saga storage of {config_path} cannot be built: {exc!r}", 2) from exc
    try:
        await storage.setup()
    except ConnectionException as exc:
        raise CliError(f"the saga storage is unreachable: {exc}", 3) from exc
    try:
        yield config, storage
    finally:
        await storage.destroy()


@contextmanager
def _importable_service(config_path: Path) -> Iterator[None]:
    """Stored executions name their callbacks by import path: make the service's modules importable, as they are
    when the service runs from its directory."""
    paths = [str(Path.cwd()), str(config_path.resolve().parent)]
    added = [path for path in paths if path not in sys.path]
    sys.path[:0] = added
    try:
        yield
    finally:
        for path in added:
            sys.path.remove(path)


def _lister(storage: SagaExecutionRepository) -> SagaExecutionLister:
    if not isinstance(storage, SagaExecutionLister):
        raise CliError(
            f"{type(storage).__name__} cannot list executions (it does not implement SagaExecutionLister); "
            "PostgreSqlSagaExecutionRepository can",
            2,
        )
    return storage


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def _duration(text: str) -> timedelta:
    match = _DURATION.match(text)
    if match is None:
        raise typer.BadParameter(f"{text!r} is not a duration like 30s, 10m, 2h or 7d.")
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


def _table(summaries: list[SagaExecutionSummary]) -> str:
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


async def _describe(execution: SagaExecution, summary: SagaExecutionSummary | None) -> str:
    lines = [f"execution  {execution.uuid}", f"status     {_where(execution)}"]
    if summary is not None:
        lines.append(f"saga       {summary.saga or '-'}")
    lines.append(f"user       {execution.user or '-'}")
    if summary is not None:
        if summary.created_at is not None:
            lines.append(f"created    {summary.created_at.astimezone(timezone.utc).isoformat()}")
        lines.append(f"updated    {summary.updated_at.astimezone(timezone.utc).isoformat()}")
    lines += ["", "steps"]
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
    lines += ["", "context", *_context_lines(execution.context)]
    lines += await _pending_request_lines(execution)
    if execution.decisions:
        lines += ["", "operator decisions"]
        lines += [
            f"  {d.at.isoformat()}  {d.action}" + (f": {d.reason}" if d.reason else "") for d in execution.decisions
        ]
    return "\n".join(lines) + "\n"


def _where(execution: SagaExecution) -> str:
    total = len(execution.definition.steps)
    done = len(execution.executed_steps)
    if execution.status == SagaStatus.Paused:
        return f"paused on step {done + 1} of {total}"
    if execution.status == SagaStatus.Errored:
        compensated = "compensated" if execution.already_rollback else "not compensated"
        if execution.compensations_stalled:
            compensated = "compensations stalled: retry sends them again"
        if (stopped := stopping_decision(execution.decisions)) is not None:
            return (
                f"errored: {_ACTIONS[stopped.action][0]} by an operator after {done} of {total} steps ({compensated})"
            )
        return f"errored after {done} of {total} steps ({compensated})"
    return f"{execution.status.raw} ({done} of {total} steps done)"


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
