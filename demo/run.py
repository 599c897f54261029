"""Three Minos services in one process: ``order`` runs sagas, ``stock`` and ``payment`` take part in them.

    make demo                             # on a throwaway PostgreSQL server, unless PGHOST/PGPORT name one
    make demo-postgres                    # the same, with the sagas stored in PostgreSQL too

    uv run python demo/run.py             # sagas kept in a directory of JSON files
    uv run python demo/run.py --postgres  # sagas kept by PostgreSqlSagaExecutionRepository

The participants keep their state in a database created for the run on the server the PG* variables name (and
dropped at the end); their saga handlers are ``@idempotent`` (``minos.saga.participants``).

Exits 0 only if every saga ends the expected way.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # make ``demo`` importable when run as a script
warnings.filterwarnings("ignore", category=UserWarning, module="aiomisc.*")  # pkg_resources deprecation noise

from minos.common import DependencyInjector, PoolFactory  # noqa: E402

import minos.saga  # noqa: E402
from demo.bus import Bus, MinosService, RoutingPublisher, load_config, subscriber_builder  # noqa: E402
from demo.console import title  # noqa: E402
from demo.database import ParticipantsDatabase, server_settings  # noqa: E402
from demo.orchestrator import Orchestrator  # noqa: E402
from demo.scenarios import SCENARIOS, Demo, print_summary  # noqa: E402
from demo.services import PaymentService, StockService, TransactionService  # noqa: E402
from demo.storage import FileSagaExecutionRepository  # noqa: E402
from minos.saga import ParticipantBarrier, SagaExecutionRepository, transactional_command  # noqa: E402


def postgresql_settings() -> dict[str, Any]:
    """The saga storage's PostgreSQL database: ``PGDATABASE`` on the server the ``PG*`` variables name."""
    return {"database": os.environ.get("PGDATABASE", "postgres"), **server_settings()}


def storage_config(args: argparse.Namespace, directory: Path) -> Path:
    """A config.yml naming the demo's saga storage, as the order service's own config would."""
    if args.postgres:
        settings = {"repository": "minos.saga.PostgreSqlSagaExecutionRepository", **postgresql_settings()}
    else:
        settings = {"repository": "demo.storage.FileSagaExecutionRepository", "directory": str(directory)}
    entries = "".join(f"    {key}: {value}\n" for key, value in settings.items())
    path = directory / "config.yml"
    path.write_text(f"version: 2\nname: order\ndatabases:\n  saga:\n{entries}")
    return path


def minos_saga_list(config: Path) -> int:
    """Run the operator's CLI on the demo's own storage, as an operator would."""
    entry_point = Path(sys.executable).parent / "minos-saga"
    command = [str(entry_point)] if entry_point.is_file() else [sys.executable, "-m", "minos.saga"]
    print(f"$ minos-saga list --config {config}", flush=True)
    root = Path(__file__).resolve().parent.parent  # where ``demo.sagas`` imports from, as the service runs
    return subprocess.run([*command, "list", "--config", str(config)], cwd=root, stderr=subprocess.DEVNULL).returncode


def new_orchestrator(
    args: argparse.Namespace, directory: Path, bus: Bus, config: Any, injector: DependencyInjector
) -> Orchestrator:
    """An order service on the storage ``args`` choose: JSON files in ``directory``, or PostgreSQL."""
    if args.postgres:
        storage: SagaExecutionRepository = minos.saga.PostgreSqlSagaExecutionRepository(**postgresql_settings())
    else:
        storage = FileSagaExecutionRepository(directory)
    return Orchestrator(storage, bus, config, injector)


async def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.CRITICAL)  # replies to compensations are logged as "late": keep quiet
    database = ParticipantsDatabase()
    await database.create()
    try:
        return await run(args, database)
    finally:
        await database.drop()


async def run(args: argparse.Namespace, database: ParticipantsDatabase) -> int:
    """Start the services, play every scenario, stop them; then show what an operator sees."""
    directory = Path(tempfile.mkdtemp(prefix="minos-saga-demo-"))
    bus, config = Bus(), load_config()
    injector = await wire(bus, config, database)
    try:
        demo = await start(bus, config, database, partial(new_orchestrator, args, directory, bus, config, injector))
        storage_name = "PostgreSQL" if args.postgres else f"JSON files in {directory}"
        print(f"order, stock and payment are up; sagas are stored as {storage_name}")
        try:
            for scenario in SCENARIOS:
                await scenario.play(demo)
        finally:
            await stop(demo)
    finally:
        await injector.unwire_and_destroy_injections()
    all_good = print_summary(demo.outcomes)
    title("What an operator sees: minos-saga list")
    listed = minos_saga_list(storage_config(args, directory))
    return 0 if listed == 0 and all_good else 1


async def wire(bus: Bus, config: Any, database: ParticipantsDatabase) -> DependencyInjector:
    """minos' injections of the three services: the broker pool, the bus's publisher and subscribers, and the
    participants' records of the saga requests they handled, next to their own tables (see demo/services.py)."""
    barrier = ParticipantBarrier(database.name, **database.settings)
    injector = DependencyInjector(
        config, [PoolFactory.from_config(config), RoutingPublisher(bus), subscriber_builder(bus), barrier]
    )
    await injector.wire_and_setup_injections(modules=[minos.saga, sys.modules[__name__]])
    return injector


async def start(
    bus: Bus, config: Any, database: ParticipantsDatabase, new_orchestrator: Callable[[], Orchestrator]
) -> Demo:
    """The three services on the bus, started, with the participants' initial stock and balances."""
    stock = StockService(database)
    await stock.create({"book": 10, "lamp": 3})
    payment = PaymentService(database)
    await payment.create({"alice": 200, "bob": 20, "carol": 900, "dave": 100})
    participants = {
        name: MinosService(name, [service, TransactionService(service)], bus, config, [transactional_command])
        for name, service in (("stock", stock), ("payment", payment))
    }
    for participant in participants.values():
        await participant.start()
    orchestrator = new_orchestrator()
    await orchestrator.start()
    return Demo(bus, stock, payment, participants, orchestrator, new_orchestrator)


async def stop(demo: Demo) -> None:
    """Stop the three services."""
    await demo.orchestrator.stop()
    for participant in demo.participants.values():
        await participant.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", action="store_true", help="store sagas with PostgreSqlSagaExecutionRepository")
    sys.exit(asyncio.run(main(parser.parse_args())))
