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

import json
import re
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional

import typer
from minos.common import Config, DependencyInjector
from minos.networks import BrokerClientPool

from . import _cli_render as render
from ._cli_storage import CliError, broker_publisher, lister, run
from .exceptions import SagaOperatorActionException, SagaRollbackExecutionException
from .executions import SagaExecutionLister, SagaExecutionRepository, SagaExecutionSummary, execution_to_mermaid
from .manager import SagaManager

__all__ = ["CliError", "app", "main"]

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
    stalled: bool = typer.Option(False, "--stalled", help="Only those whose compensations ran out of attempts."),
    limit: int = typer.Option(50, help="At most this many (1 to 1000)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document: the executions and the next cursor."),
) -> None:
    """List stored saga executions, least recently stored first."""
    now = datetime.now(timezone.utc)
    filters: dict[str, Any] = dict(status=status, saga=saga, user=user, after=after, limit=limit)
    if stalled:
        filters["compensations_stalled"] = True
    if older_than is not None:
        filters["updated_before"] = now - _duration(older_than)
    if newer_than is not None:
        filters["updated_after"] = now - _duration(newer_than)

    async def list_page(_: Config, storage: SagaExecutionRepository) -> list[SagaExecutionSummary]:
        try:
            return await lister(storage).list(**filters)
        except (TypeError, ValueError) as exc:
            raise CliError(str(exc), 2) from exc

    summaries = run(config, list_page)
    next_cursor = str(summaries[-1].cursor) if len(summaries) == limit else None
    if as_json:
        typer.echo(json.dumps({"executions": [s.json for s in summaries], "next": next_cursor}, indent=2))
        return
    typer.echo(render.table(summaries))
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
        return await render.describe(execution, summary)

    typer.echo(run(config, describe), nl=False)


@app.command()
def diagram(uuid: str = UuidArgument, config: Path = ConfigOption) -> None:
    """Print the Mermaid flowchart of the execution's saga with its progress marked."""

    async def mermaid(_: Config, storage: SagaExecutionRepository) -> str:
        return execution_to_mermaid(await storage.load(uuid))

    typer.echo(run(config, mermaid), nl=False)


_ACTION_HELP = {
    "retry": "Re-send the request a paused execution waits on, with its original message identity.",
    "compensate": "Compensate a paused execution now, its in-flight step included; late replies are then ignored.",
    "abandon": "Stop an execution for good without sending anything more (settled by hand); late replies are ignored.",
}
ReasonOption = typer.Option(None, help="Why, recorded with the decision.")


def _action_command(action: str, summary: str) -> None:
    """Register the ``minos-saga ACTION UUID [--reason]`` command of one of SagaManager's operator actions."""

    def command(uuid: str = UuidArgument, reason: Optional[str] = ReasonOption, config: Path = ConfigOption) -> None:  # noqa: UP045
        _act(config, action, uuid, reason)

    command.__doc__ = summary
    app.command(action)(command)


for _action, _summary in _ACTION_HELP.items():
    _action_command(_action, _summary)


def _act(config_path: Path, action: str, uuid: str, reason: str | None) -> None:
    """Run one of SagaManager's operator actions with the service's storage and broker publisher."""

    async def act(config: Config, storage: SagaExecutionRepository) -> str:
        publisher = broker_publisher(config)
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
        return f"{render.DONE[action]} {execution.uuid}: {render.where(execution)}"

    typer.echo(run(config_path, act))


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def _duration(text: str) -> timedelta:
    match = _DURATION.match(text)
    if match is None:
        raise typer.BadParameter(f"{text!r} is not a duration like 30s, 10m, 2h or 7d.")
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
