"""The saga system under test, seen from the test: its processes, when it is at rest, and how each order ended."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2

from minos.saga import PostgreSqlSagaExecutionRepository, SagaStatus

from .broker import CREATE_QUEUE
from .faults import BROKER_DATABASE_ENV, SAGA_DATABASE_ENV
from .orchestrator import CREATE_PROGRESS, ORDERS_ENV, START_ON_ENV
from .participants import CREATE_LEDGER
from .scenario import ACTION, COMPENSATION, PAYMENT, PAYMENT_LIMIT, STOCK
from .servers import dsn
from .zygote import Child, Zygote

PROCESS_DEADLINE = 20.0  # seconds a child may take to reach a fault, or the system to come to rest
POLL = 0.02


@dataclass(frozen=True)
class Order:
    order_id: str
    amount: int

    @property
    def refused(self) -> bool:
        return self.amount > PAYMENT_LIMIT


class SagaSystem:
    """Starts participant and orchestrator processes on one broker database and one saga database, and judges the
    end state: every order that left a trace ended committed or compensated, with each step run once."""

    def __init__(
        self,
        zygote: Zygote,
        saga_database: dict[str, Any],
        broker_database: dict[str, Any],
        logs: Path,
        env: dict[str, str] | None = None,
    ):
        self.zygote = zygote
        self.env = env or {}
        self.saga_database = saga_database
        self.broker_database = broker_database
        self.logs = logs
        self.processes: list[Child] = []
        self.orchestrators: list[Child] = []
        with self._cursor() as cursor:
            cursor.execute(CREATE_QUEUE + ";" + CREATE_LEDGER + ";" + CREATE_PROGRESS)

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        connection = psycopg2.connect(dsn(self.broker_database))
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                yield cursor
        finally:
            connection.close()

    def _spawn(self, module: str, env: dict[str, str]) -> Child:
        environment = (
            self.env
            | env
            | {
                SAGA_DATABASE_ENV: json.dumps(self.saga_database),
                BROKER_DATABASE_ENV: json.dumps(self.broker_database),
            }
        )
        process = self.zygote.spawn(module, environment, str(self.logs / f"{module}-{len(self.processes)}.log"))
        self.processes.append(process)
        return process

    def start_participants(self) -> Child:
        return self._spawn("participants", {})

    def start_orchestrator(
        self, orders: list[Order] = (), env: dict[str, str] | None = None, start_on: str | None = None
    ) -> Child:
        """An orchestrator that starts ``orders``; with ``start_on``, a standby that starts once :meth:`note`
        notes that event."""
        orders_env = json.dumps([{"order_id": order.order_id, "amount": order.amount} for order in orders])
        start_env = {} if start_on is None else {START_ON_ENV: start_on}
        process = self._spawn("orchestrator", (env or {}) | start_env | {ORDERS_ENV: orders_env})
        self.orchestrators.append(process)
        return process

    def note(self, event: str) -> None:
        with self._cursor() as cursor:
            cursor.execute("INSERT INTO fault_events (event) VALUES (%s)", (event,))

    async def wait_killed(self, process: Child) -> None:
        """Wait until ``process`` died of SIGKILL (the injected fault), failing if it does not within the deadline."""
        deadline = time.monotonic() + PROCESS_DEADLINE
        while process.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(POLL)
        assert process.returncode == -signal.SIGKILL, f"the fault never killed the orchestrator ({self._log_tail()})"

    async def wait_event(self, event: str) -> None:
        """Wait until a fault noted ``event`` in ``fault_events``."""
        deadline = time.monotonic() + PROCESS_DEADLINE
        while time.monotonic() < deadline:
            with self._cursor() as cursor:
                cursor.execute("SELECT count(*) FROM fault_events WHERE event = %s", (event,))
                if cursor.fetchone()[0]:
                    return
            await asyncio.sleep(POLL)
        raise AssertionError(f"the fault never noted {event!r} ({self._log_tail()})")

    async def wait_at_rest(self) -> None:
        """Wait until nothing is left to do: every live orchestrator is up and done starting its orders, the broker
        queue is empty, each orchestrator handled all it took and ran a recovery pass since the
        previous look, with nothing new received or recovered in between."""
        live = [process.pid for process in self.orchestrators if process.poll() is None]
        deadline = time.monotonic() + PROCESS_DEADLINE
        previous: list[Replica] | None = None
        while time.monotonic() < deadline:
            queued, replicas = self._progress(live)
            stopped = [replica.pid for replica in replicas if not replica.consuming]
            assert not stopped, f"the reply consumer of the orchestrator {stopped} stopped ({self._log_tail()})"
            idle = queued == 0 and len(replicas) == len(live) and all(replica.idle for replica in replicas)
            settled = idle and previous is not None and all(map(Replica.settled_since, replicas, previous))
            if settled and not await self._waiting_sagas():
                return
            previous = replicas if idle else None
            await asyncio.sleep(POLL * 5)
        raise AssertionError(
            f"the system did not come to rest within {PROCESS_DEADLINE} s: {queued} queued, orchestrators {replicas} "
            f"of {live} ({self._log_tail()})"
        )

    async def _waiting_sagas(self) -> int:
        """How many stored sagas still wait for a reply (their declared timeout re-sends the request)."""
        repository = PostgreSqlSagaExecutionRepository(**self.saga_database)
        await repository.setup()
        try:
            return len(await repository.list(status=SagaStatus.Paused, limit=1000))
        finally:
            await repository.destroy()

    def _progress(self, pids: list[int]) -> tuple[int, list[Replica]]:
        with self._cursor() as cursor:
            cursor.execute("SELECT count(*) FROM broker_queue")
            (queued,) = cursor.fetchone()
            cursor.execute(
                "SELECT pid, received, handled, recovery_passes, recovered, consuming, starting_orders "
                "FROM replica_progress WHERE pid = ANY(%s) ORDER BY pid",
                (pids,),
            )
            return queued, [Replica(*row) for row in cursor.fetchall()]

    async def outcomes(self, orders: list[Order]) -> dict[str, dict[str, list[str]]]:
        """How each order ended: the non-duplicate ledger entries per participant, and the stored executions."""
        ended: dict[str, dict[str, list[str]]] = {
            order.order_id: {STOCK: [], PAYMENT: [], "stored": []} for order in orders
        }
        with self._cursor() as cursor:
            cursor.execute("SELECT participant, kind, order_id, outcome FROM ledger WHERE NOT duplicate ORDER BY id")
            for participant, kind, order_id, outcome in cursor.fetchall():
                ended[order_id][participant].append(f"{kind}:{outcome}")
        repository = PostgreSqlSagaExecutionRepository(**self.saga_database)
        await repository.setup()
        try:
            for summary in await repository.list(limit=1000):
                execution = await repository.load(summary.uuid)
                ended[execution.context["order_id"]]["stored"].append(summary.status.value)
        finally:
            await repository.destroy()
        for entries in ended.values():
            for participant in (STOCK, PAYMENT):
                entries[participant].sort()
        return ended

    async def assert_each_order_committed_or_compensated(self, orders: list[Order], *, all_started: bool) -> None:
        """Every order ended as its saga must: each participant's action done once and kept (a finished saga,
        deleted from storage), or done once and compensated once (a failed saga, stored as errored). Two actions
        (or compensations) of one participant mean a step ran twice. Unless ``all_started`` (the orchestrator that
        started them was killed), an order may also have left no trace at all."""
        ended = await self.outcomes(orders)
        untouched = [] if all_started else [{STOCK: [], PAYMENT: [], "stored": []}]
        committed = {STOCK: [f"{ACTION}:done"], PAYMENT: [f"{ACTION}:done"], "stored": []}
        compensated = [
            {STOCK: [f"{ACTION}:done", f"{COMPENSATION}:compensated"], PAYMENT: payment, "stored": ["errored"]}
            for payment in ([f"{ACTION}:refused"], [f"{ACTION}:refused", f"{COMPENSATION}:null"])
        ]
        wrong = {
            order.order_id: ended[order.order_id]
            for order in orders
            if ended[order.order_id] not in [*untouched, *(compensated if order.refused else [committed])]
        }
        assert not wrong, f"orders that did not end committed or compensated exactly once: {wrong}"

    def stop(self) -> None:
        for process in self.processes:
            process.kill()

    def _log_tail(self, lines: int = 15) -> str:
        tails = []
        for log in sorted(self.logs.glob("*.log")):
            text = log.read_text().splitlines()[-lines:]
            if text:
                tails.append(f"{log.name}:\n" + "\n".join(text))
        return "\n".join(tails) or "no output"


@contextmanager
def running_system(
    zygote: Zygote,
    saga_database: dict[str, Any],
    broker_database: dict[str, Any],
    tmp_path: Path,
    env: dict[str, str] | None = None,
) -> Iterator[SagaSystem]:
    """A SagaSystem on these databases, stopped (every process it started) when the block ends."""
    system = SagaSystem(zygote, saga_database, broker_database, tmp_path, env)
    try:
        yield system
    finally:
        system.stop()


@dataclass(frozen=True)
class Replica:
    """One orchestrator's row of ``replica_progress``."""

    pid: int
    received: int
    handled: int
    recovery_passes: int
    recovered: int
    consuming: bool
    starting_orders: bool

    @property
    def idle(self) -> bool:
        return self.received == self.handled and not self.starting_orders

    def settled_since(self, before: Replica) -> bool:
        """Nothing was received or recovered since ``before``, and a recovery pass ran since."""
        unchanged = (self.pid, self.received, self.recovered) == (before.pid, before.received, before.recovered)
        return unchanged and self.recovery_passes > before.recovery_passes
