"""The demo's scenarios: each places an order in some condition and says how its saga should end and what the
services then hold."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from minos.saga import SagaStatus

from .bus import Bus, MinosService
from .console import title
from .orchestrator import Orchestrator
from .sagas import ORDERS, PAYMENT_TIMEOUT
from .services import PaymentService, StockService

Outcome = tuple[str, SagaStatus, SagaStatus, bool]
"""A scenario's label, the saga status it expects, the one obtained, and whether its own check held."""


@dataclass
class Demo:
    """What the scenarios act on: the bus, the three services, and the outcomes so far."""

    bus: Bus
    stock: StockService
    payment: PaymentService
    participants: dict[str, MinosService]
    orchestrator: Orchestrator
    new_orchestrator: Callable[[], Orchestrator]
    """Builds an order service on the same storage (for a restart)."""
    outcomes: list[Outcome] = field(default_factory=list)

    async def restart_orchestrator(self) -> None:
        """Stop the order service and start a new one on the same storage."""
        await self.orchestrator.stop()
        self.orchestrator = self.new_orchestrator()
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
