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
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # make ``demo`` importable when run as a script
warnings.filterwarnings("ignore", category=UserWarning, module="aiomisc.*")  # pkg_resources deprecation noise

from minos.common import DependencyInjector, PoolFactory  # noqa: E402

import minos.saga  # noqa: E402
from demo.bus import Bus, MinosService, RoutingPublisher, load_config, subscriber_builder  # noqa: E402
from demo.database import ParticipantsDatabase  # noqa: E402
from demo.sagas import CREATE_ORDER, ORDERS, PAYMENT_TIMEOUT  # noqa: E402
from demo.services import OrderLedger, PaymentService, StockService, TransactionService  # noqa: E402
from demo.storage import FileSagaExecutionRepository  # noqa: E402
from minos.saga import (  # noqa: E402
    ParticipantBarrier,
    SagaContext,
    SagaExecutionNotFoundException,
    SagaExecutionRepository,
    SagaManager,
    SagaService,
    SagaStatus,
    transactional_command,
)
from minos.saga.clock import OffsetClock  # noqa: E402

TIMEOUT = 5.0


def title(text: str) -> None:
    print(f"\n━━ {text} " + "━" * max(0, 74 - len(text)))


async def wait_until(predicate: Callable[[], bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


class Orchestrator:
    """The order service: a SagaManager over a repository, and SagaService answering ``orderReply``."""

    def __init__(self, storage: SagaExecutionRepository, bus: Bus, config, injector: DependencyInjector):
        self.storage = storage
        self.clock = OffsetClock()  # the demo moves it past a timeout instead of waiting
        # Finished sagas stay listed for a day (history), instead of being deleted as 0.7.0 does.
        self.manager = SagaManager(
            storage=storage,
            broker_pool=injector.pool_factory.get_pool("broker"),
            keep_finished_for=timedelta(days=1),
            clock=self.clock,
        )
        self.service = MinosService(
            "order", [SagaService(saga_manager=self.manager), TransactionService(OrderLedger())], bus, config
        )

    async def start(self) -> None:
        await self.manager.setup()
        await self.service.start()

    async def stop(self) -> None:
        await self.service.stop()
        await self.manager.destroy()

    async def place(self, order_id: int, customer: str, tier: str, item: str, quantity: int, amount: int):
        context = SagaContext(order_id=order_id, customer=customer, tier=tier, item=item, quantity=quantity)
        context["amount"] = amount
        print(f"    order #{order_id}: {customer} ({tier}) buys {quantity} × {item} for {amount} €")
        # Runs until the first remote step, stores the paused execution and returns; SagaService resumes it.
        return await self.manager.run(CREATE_ORDER, context, pause_on_disk=True, autocommit=True)

    async def settled(self, execution_uuid) -> SagaStatus:
        """Wait until the execution finished or errored; return which."""
        status: list[SagaStatus] = []

        async def probe() -> None:
            try:
                execution = await self.storage.load(execution_uuid)
            except SagaExecutionNotFoundException:
                status.append(SagaStatus.Finished)
                return
            if execution.status in (SagaStatus.Finished, SagaStatus.Errored):
                status.append(execution.status)

        loop = asyncio.get_running_loop()
        deadline = loop.time() + TIMEOUT
        while not status:
            if loop.time() > deadline:
                raise TimeoutError(f"the {execution_uuid} saga did not settle")
            await probe()
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # let the last commit/reject/compensation messages be handled
        return status[0]


async def wait_until_paused_on_payment(orchestrator: Orchestrator, uuid) -> None:
    """Wait until the saga sent its payment request (the stock and fraud steps answered)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while True:
        execution = await orchestrator.storage.load(uuid)
        paused = execution.paused_step
        if paused is not None and paused.definition.on_execute_operation.callback.__name__ == "charge_payment":
            return
        if loop.time() > deadline:
            raise TimeoutError(f"the {uuid} saga never asked for the payment")
        await asyncio.sleep(0.01)


def storage_config(args: argparse.Namespace, directory: Path) -> Path:
    """A config.yml naming the demo's saga storage, as the order service's own config would."""
    if args.postgres:
        settings = {
            "repository": "minos.saga.PostgreSqlSagaExecutionRepository",
            "database": os.environ.get("PGDATABASE", "postgres"),
            "host": os.environ.get("PGHOST", "localhost"),
            "port": os.environ.get("PGPORT", "5432"),
            "user": os.environ.get("PGUSER", "postgres"),
            "password": os.environ.get("PGPASSWORD", "postgres"),
        }
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


def make_storage(args: argparse.Namespace, directory: Path) -> SagaExecutionRepository:
    if not args.postgres:
        return FileSagaExecutionRepository(directory)
    try:
        from minos.saga import PostgreSqlSagaExecutionRepository
    except ImportError:
        sys.exit("--postgres: minos.saga.PostgreSqlSagaExecutionRepository is not available in this checkout yet.")
    return PostgreSqlSagaExecutionRepository(
        os.environ.get("PGDATABASE", "postgres"),
        host=os.environ.get("PGHOST", "localhost"),
        port=int(os.environ.get("PGPORT", "5432")),
        user=os.environ.get("PGUSER", "postgres"),
        password=os.environ.get("PGPASSWORD", "postgres"),
    )


async def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.CRITICAL)  # replies to compensations are logged as "late": keep quiet
    database = ParticipantsDatabase()
    await database.create()
    try:
        return await run(args, database)
    finally:
        await database.drop()


async def run(args: argparse.Namespace, database: ParticipantsDatabase) -> int:
    bus = Bus()
    config = load_config()
    # The participants' records of the saga requests they handled, next to their own tables (see demo/services.py).
    barrier = ParticipantBarrier(database.name, **database.settings)
    injector = DependencyInjector(
        config, [PoolFactory.from_config(config), RoutingPublisher(bus), subscriber_builder(bus), barrier]
    )
    await injector.wire_and_setup_injections(modules=[minos.saga, sys.modules[__name__]])
    directory = Path(tempfile.mkdtemp(prefix="minos-saga-demo-"))

    stock = StockService(database)
    await stock.create({"book": 10, "lamp": 3})
    payment = PaymentService(database)
    await payment.create({"alice": 200, "bob": 20, "carol": 900, "dave": 100})
    participants = {
        "stock": MinosService("stock", [stock, TransactionService(stock)], bus, config, [transactional_command]),
        "payment": MinosService(
            "payment", [payment, TransactionService(payment)], bus, config, [transactional_command]
        ),
    }
    for service in participants.values():
        await service.start()
    orchestrator = Orchestrator(make_storage(args, directory), bus, config, injector)
    await orchestrator.start()
    storage_name = "PostgreSQL" if args.postgres else f"JSON files in {directory}"
    print(f"order, stock and payment are up; sagas are stored as {storage_name}")

    outcomes: list[Outcome] = []

    async def scenario(label: str, expected: SagaStatus, check: Callable[[], Awaitable[bool]], **order) -> None:
        execution = await orchestrator.place(**order)
        obtained = await orchestrator.settled(execution.uuid)
        record(outcomes, order["order_id"], label, expected, obtained, await check())

    try:

        async def happy_path() -> bool:
            return (ORDERS[1]["status"], await stock.on_hand("book"), await payment.balance("alice")) == (
                "confirmed", 8, 140
            )  # fmt: skip

        title("1. Happy path: hold stock → fraud check → charge → confirm → two-phase commit")
        await scenario(
            "happy path",
            SagaStatus.Finished,
            happy_path,
            order_id=1, customer="alice", tier="regular", item="book", quantity=2, amount=60,
        )  # fmt: skip

        async def payment_refused() -> bool:
            lamps = (await stock.available("lamp"), await stock.on_hand("lamp"))
            return ORDERS[2]["status"] == "cancelled" and lamps == (3, 3)

        title("2. Payment refused: the stock hold and the order are compensated")
        await scenario(
            "payment refused",
            SagaStatus.Errored,
            payment_refused,
            order_id=2, customer="bob", tier="regular", item="lamp", quantity=1, amount=45,
        )  # fmt: skip

        async def premium_branch() -> bool:
            return ORDERS[3]["status"] == "confirmed" and await payment.balance("carol") == 300

        title("3. Conditional step: a premium customer skips the fraud check")
        await scenario(
            "premium branch",
            SagaStatus.Finished,
            premium_branch,
            order_id=3, customer="carol", tier="premium", item="lamp", quantity=2, amount=600,
        )  # fmt: skip

        title("4. Restart: the saga waits on disk while the orchestrator restarts, then resumes")
        await participants["stock"].stop()
        print("    (the stock service is down for a moment)")
        execution = await orchestrator.place(
            order_id=4, customer="dave", tier="regular", item="book", quantity=1, amount=30
        )
        stored = await orchestrator.storage.load(execution.uuid)
        print(f"    stored execution {stored.uuid}: status {stored.status.raw}, paused on step ", end="")
        print(f"{stored.paused_step.definition.on_execute_operation.callback.__name__}")
        print("    stopping the order service (SagaManager, SagaService, repository)...")
        await orchestrator.stop()
        del orchestrator
        orchestrator = Orchestrator(make_storage(args, directory), bus, config, injector)
        await orchestrator.start()
        print("    a new order service is up, reading the same storage; the stock service comes back:")
        await participants["stock"].start()
        obtained = await orchestrator.settled(execution.uuid)
        ok = ORDERS[4]["status"] == "confirmed" and await stock.on_hand("book") == 7
        record(outcomes, 4, "resumed after restart", SagaStatus.Finished, obtained, ok)

        async def delivered_twice() -> bool:
            return (await stock.on_hand("book"), await payment.balance("alice")) == (6, 120)

        title("5. Duplicate delivery: the broker delivers each saga request twice; each takes effect once")
        bus.redelivered = {"ReserveStock", "CheckFraud", "ChargePayment"}
        await scenario(
            "duplicates answered from the record",
            SagaStatus.Finished,
            delivered_twice,
            order_id=5, customer="alice", tier="regular", item="book", quantity=1, amount=20,
        )  # fmt: skip
        bus.redelivered = set()

        title("6. Timeout: the payment request is lost; it is sent again once, then the saga compensates")
        bus.lost = {"ChargePayment"}
        execution = await orchestrator.place(
            order_id=6, customer="dave", tier="premium", item="book", quantity=1, amount=30
        )
        await wait_until_paused_on_payment(orchestrator, execution.uuid)
        for _ in range(2):
            orchestrator.clock.advance(PAYMENT_TIMEOUT + 2)
            print(f"    {PAYMENT_TIMEOUT + 2} s pass without an answer; the recovery loop runs (recover()):")
            resent = await orchestrator.manager.recover()
            print(f"      {resent} request(s) sent again" if resent else "      no attempt left: the step fails")
        bus.lost = set()
        obtained = await orchestrator.settled(execution.uuid)
        ok = (ORDERS[6]["status"], await stock.on_hand("book"), await payment.balance("dave")) == ("cancelled", 6, 70)
        record(outcomes, 6, "timed out, retried, compensated", SagaStatus.Errored, obtained, ok)
    finally:
        await orchestrator.stop()
        for service in participants.values():
            await service.stop()
        await injector.unwire_and_destroy_injections()

    all_good = print_summary(outcomes)
    title("What an operator sees: minos-saga list")
    listed = minos_saga_list(storage_config(args, directory))
    return 0 if listed == 0 and all_good else 1


Outcome = tuple[str, SagaStatus, SagaStatus, bool]
"""A scenario's label, the saga status it expects, the one obtained, and whether its own check held."""


def record(
    outcomes: list[Outcome], order_id: int, label: str, expected: SagaStatus, obtained: SagaStatus, ok: bool
) -> None:
    """Keep a scenario's outcome for the summary and print the line that says how its order ended."""
    outcomes.append((label, expected, obtained, ok))
    mark = "✔" if obtained == expected and ok else "✘"
    print(f"    {mark} order #{order_id} is {ORDERS[order_id]['status']}, saga {obtained.raw}")


def print_summary(outcomes: list[Outcome]) -> bool:
    """Print each scenario's outcome and the counts; whether every scenario ended as expected."""
    title("Summary")
    for label, expected, obtained, ok in outcomes:
        good = expected == obtained and ok
        print(f"    {'✔' if good else '✘'} {label}: expected {expected.raw}, got {obtained.raw}")
    finished = sum(obtained == SagaStatus.Finished for _, _, obtained, _ in outcomes)
    compensated = sum(obtained == SagaStatus.Errored for _, _, obtained, _ in outcomes)
    print(f"{finished} sagas finished, {compensated} compensated")
    return all(expected == obtained and ok for _, expected, obtained, ok in outcomes)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", action="store_true", help="store sagas with PostgreSqlSagaExecutionRepository")
    sys.exit(asyncio.run(main(parser.parse_args())))
