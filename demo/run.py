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
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # make ``demo`` importable when run as a script
warnings.filterwarnings("ignore", category=UserWarning, module="aiomisc.*")  # pkg_resources deprecation noise

from minos.common import DependencyInjector, PoolFactory  # noqa: E402

import minos.saga  # noqa: E402
from demo.bus import Bus, MinosService, RoutingPublisher, load_config, subscriber_builder  # noqa: E402
from demo.database import ParticipantsDatabase, server_settings  # noqa: E402
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
_T = TypeVar("_T")


def title(text: str) -> None:
    print(f"\n━━ {text} " + "━" * max(0, 74 - len(text)))


async def poll(probe: Callable[[], Awaitable[_T | None]], what: str) -> _T:
    """Run ``probe`` every 10 ms until it returns something other than ``None``; fail after TIMEOUT seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while (found := await probe()) is None:
        if loop.time() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
    return found


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

        async def status() -> SagaStatus | None:
            try:
                execution = await self.storage.load(execution_uuid)
            except SagaExecutionNotFoundException:
                return SagaStatus.Finished
            return execution.status if execution.status in (SagaStatus.Finished, SagaStatus.Errored) else None

        obtained = await poll(status, f"the {execution_uuid} saga to settle")
        await asyncio.sleep(0.05)  # let the last commit/reject/compensation messages be handled
        return obtained

    async def paused_on(self, execution_uuid, callback: str) -> None:
        """Wait until the execution sent the request of the step whose callback is named ``callback``."""

        async def paused() -> bool | None:
            step = (await self.storage.load(execution_uuid)).paused_step
            if step is not None and step.definition.on_execute_operation.callback.__name__ == callback:
                return True
            return None

        await poll(paused, f"the {execution_uuid} saga to send {callback}")


Outcome = tuple[str, SagaStatus, SagaStatus, bool]
"""A scenario's label, the saga status it expects, the one obtained, and whether its own check held."""


@dataclass
class Demo:
    """What the scenarios act on: the bus, the three services, and the outcomes so far."""

    args: argparse.Namespace
    directory: Path
    bus: Bus
    config: Any
    injector: DependencyInjector
    stock: StockService
    payment: PaymentService
    participants: dict[str, MinosService]
    orchestrator: Orchestrator
    outcomes: list[Outcome] = field(default_factory=list)

    async def restart_orchestrator(self) -> None:
        """Stop the order service and start a new one on the same storage."""
        await self.orchestrator.stop()
        self.orchestrator = new_orchestrator(self.args, self.directory, self.bus, self.config, self.injector)
        await self.orchestrator.start()

    async def observe(self, what: str, of: Any) -> Any:
        """One observable fact: an order's status, an item's stock on hand or available, a customer's balance."""
        if what == "order":
            return ORDERS[of]["status"]
        service = self.payment if what == "balance" else self.stock
        return await getattr(service, what)(of)

    def record(self, order_id: int, label: str, expected: SagaStatus, obtained: SagaStatus, ok: bool) -> None:
        """Keep a scenario's outcome for the summary and print the line that says how its order ended."""
        self.outcomes.append((label, expected, obtained, ok))
        mark = "✔" if obtained == expected and ok else "✘"
        print(f"    {mark} order #{order_id} is {ORDERS[order_id]['status']}, saga {obtained.raw}")


Act = Callable[[Demo, dict[str, Any]], Awaitable[SagaStatus]]
"""How a scenario places its order and waits for its saga to settle; returns the saga's final status."""


async def place(demo: Demo, order: dict[str, Any]) -> SagaStatus:
    """Place the order and wait for its saga to settle."""
    execution = await demo.orchestrator.place(**order)
    return await demo.orchestrator.settled(execution.uuid)


async def place_across_a_restart(demo: Demo, order: dict[str, Any]) -> SagaStatus:
    """Place the order while the stock service is down, restart the order service, then bring stock back."""
    await demo.participants["stock"].stop()
    print("    (the stock service is down for a moment)")
    execution = await demo.orchestrator.place(**order)
    stored = await demo.orchestrator.storage.load(execution.uuid)
    print(f"    stored execution {stored.uuid}: status {stored.status.raw}, paused on step ", end="")
    print(f"{stored.paused_step.definition.on_execute_operation.callback.__name__}")
    print("    stopping the order service (SagaManager, SagaService, repository)...")
    await demo.restart_orchestrator()
    print("    a new order service is up, reading the same storage; the stock service comes back:")
    await demo.participants["stock"].start()
    return await demo.orchestrator.settled(execution.uuid)


async def place_delivering_twice(demo: Demo, order: dict[str, Any]) -> SagaStatus:
    """Place the order while the broker delivers each saga request twice."""
    demo.bus.redelivered = {"ReserveStock", "CheckFraud", "ChargePayment"}
    try:
        return await place(demo, order)
    finally:
        demo.bus.redelivered = set()


async def place_losing_the_payment_request(demo: Demo, order: dict[str, Any]) -> SagaStatus:
    """Place the order while payment requests are lost; move the clock past the step's timeout, twice."""
    demo.bus.lost = {"ChargePayment"}
    execution = await demo.orchestrator.place(**order)
    await demo.orchestrator.paused_on(execution.uuid, "charge_payment")
    for _ in range(2):
        demo.orchestrator.clock.advance(PAYMENT_TIMEOUT + 2)
        print(f"    {PAYMENT_TIMEOUT + 2} s pass without an answer; the recovery loop runs (recover()):")
        resent = await demo.orchestrator.manager.recover()
        print(f"      {resent} request(s) sent again" if resent else "      no attempt left: the step fails")
    demo.bus.lost = set()
    return await demo.orchestrator.settled(execution.uuid)


@dataclass(frozen=True)
class Scenario:
    """One order placed in some condition, the saga status it should end with, and what the services then hold."""

    title: str
    label: str
    order: dict[str, Any]
    expected: SagaStatus
    holds: dict[tuple[str, Any], Any]
    """``(what, of)`` -> value, as Demo.observe reads it once the saga settled."""
    act: Act = place

    async def play(self, demo: Demo) -> None:
        """Run the scenario and record its outcome."""
        title(self.title)
        obtained = await self.act(demo, self.order)
        ok = all([await demo.observe(what, of) == value for (what, of), value in self.holds.items()])
        demo.record(self.order["order_id"], self.label, self.expected, obtained, ok)


def order(order_id: int, customer: str, tier: str, item: str, quantity: int, amount: int) -> dict[str, Any]:
    """The arguments of Orchestrator.place."""
    return dict(order_id=order_id, customer=customer, tier=tier, item=item, quantity=quantity, amount=amount)


SCENARIOS = [
    Scenario(
        "1. Happy path: hold stock → fraud check → charge → confirm → two-phase commit",
        "happy path",
        order(1, "alice", "regular", "book", 2, 60),
        SagaStatus.Finished,
        {("order", 1): "confirmed", ("on_hand", "book"): 8, ("balance", "alice"): 140},
    ),
    Scenario(
        "2. Payment refused: the stock hold and the order are compensated",
        "payment refused",
        order(2, "bob", "regular", "lamp", 1, 45),
        SagaStatus.Errored,
        {("order", 2): "cancelled", ("available", "lamp"): 3, ("on_hand", "lamp"): 3},
    ),
    Scenario(
        "3. Conditional step: a premium customer skips the fraud check",
        "premium branch",
        order(3, "carol", "premium", "lamp", 2, 600),
        SagaStatus.Finished,
        {("order", 3): "confirmed", ("balance", "carol"): 300},
    ),
    Scenario(
        "4. Restart: the saga waits on disk while the orchestrator restarts, then resumes",
        "resumed after restart",
        order(4, "dave", "regular", "book", 1, 30),
        SagaStatus.Finished,
        {("order", 4): "confirmed", ("on_hand", "book"): 7},
        place_across_a_restart,
    ),
    Scenario(
        "5. Duplicate delivery: the broker delivers each saga request twice; each takes effect once",
        "duplicates answered from the record",
        order(5, "alice", "regular", "book", 1, 20),
        SagaStatus.Finished,
        {("on_hand", "book"): 6, ("balance", "alice"): 120},
        place_delivering_twice,
    ),
    Scenario(
        "6. Timeout: the payment request is lost; it is sent again once, then the saga compensates",
        "timed out, retried, compensated",
        order(6, "dave", "premium", "book", 1, 30),
        SagaStatus.Errored,
        {("order", 6): "cancelled", ("on_hand", "book"): 6, ("balance", "dave"): 70},
        place_losing_the_payment_request,
    ),
]


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
    demo = await start(args, database)
    try:
        for scenario in SCENARIOS:
            await scenario.play(demo)
    finally:
        await stop(demo)
    all_good = print_summary(demo.outcomes)
    title("What an operator sees: minos-saga list")
    listed = minos_saga_list(storage_config(args, demo.directory))
    return 0 if listed == 0 and all_good else 1


async def start(args: argparse.Namespace, database: ParticipantsDatabase) -> Demo:
    """The bus, minos' injections, and the three services on it, started, with their initial stock and balances."""
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
        name: MinosService(name, [service, TransactionService(service)], bus, config, [transactional_command])
        for name, service in (("stock", stock), ("payment", payment))
    }
    for participant in participants.values():
        await participant.start()
    orchestrator = new_orchestrator(args, directory, bus, config, injector)
    await orchestrator.start()
    storage_name = "PostgreSQL" if args.postgres else f"JSON files in {directory}"
    print(f"order, stock and payment are up; sagas are stored as {storage_name}")
    return Demo(args, directory, bus, config, injector, stock, payment, participants, orchestrator)


async def stop(demo: Demo) -> None:
    """Stop the three services and minos' injections."""
    await demo.orchestrator.stop()
    for participant in demo.participants.values():
        await participant.stop()
    await demo.injector.unwire_and_destroy_injections()


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
