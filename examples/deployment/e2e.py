"""End-to-end run of the shop: order (two replicas), stock and payment as separate Minos processes on RabbitMQ and
PostgreSQL, N sagas (some refused, some whose payment reply is lost once or never comes, so the payment step's
re-sends and timeout act), one order replica killed with SIGKILL mid-run and restarted, then a consistency check.

    uv run --group e2e python examples/deployment/e2e.py [--orders N] [--in-flight W] [--faults F]   # or: make e2e

Servers: the RabbitMQ named by ``RABBITMQ_HOST`` (``RABBITMQ_PORT``, ``RABBITMQ_USER``, ``RABBITMQ_PASSWORD``) and
the PostgreSQL named by ``PGHOST`` (``PGPORT``, ``PGUSER``, ``PGPASSWORD``); without them, throwaway local ones:
RabbitMQ from Debian's ``rabbitmq-server`` (installed with apt when missing and running as root) and PostgreSQL
from ``tests/_postgres.py``. Everything started here is stopped at the end, also on failure or Ctrl-C. The last
line is the summary; the exit status is non-zero on any inconsistency.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager, suppress
from pathlib import Path
from typing import Any

import aio_pika
import psycopg2
from minos.networks import BrokerMessageV1, BrokerMessageV1Payload

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[1])]  # the shop package; tests/_postgres.py

from shop.payment import CARD_LIMIT, FAULTS, NO_REPLY, REPLY_LOST_ONCE  # noqa: E402
from shop.schema import SCHEMAS  # noqa: E402

from tests._postgres import postgres_server  # noqa: E402

SERVICES = ("order", "stock", "payment")
TOPICS = [
    "CreateOrder",
    "orderReply",
    "ReserveStock",
    "ReleaseStock",
    "ChargePayment",
    "RefundPayment",
    *(f"_{action}{service.title()}Transaction" for action in ("Reserve", "Commit", "Reject") for service in SERVICES),
]
"""Every topic the services consume. The RabbitMQ plugin declares a queue only when its consumer subscribes and
publishes to the default exchange, where a message for a queue not declared yet is dropped: they are declared
before any service starts."""

STOCK = {"widget": 1_000_000, "gadget": 25}  # gadgets run out: some sagas are refused by stock too
RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
READY_LINE = "Microservice is up and running!"
START_TIMEOUT = 60.0


def log(message: str) -> None:
    print(f"[e2e {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- servers --------------------------------------------------------------------------------------------------------


@contextmanager
def rabbitmq_server(workdir: Path) -> Iterator[dict[str, Any]]:
    """The RabbitMQ the ``RABBITMQ_*`` variables name, else a throwaway local node on free ports."""
    if "RABBITMQ_HOST" in os.environ:
        yield {
            "host": os.environ["RABBITMQ_HOST"],
            "port": int(os.environ.get("RABBITMQ_PORT", "5672")),
            "user": os.environ.get("RABBITMQ_USER", "guest"),
            "password": os.environ.get("RABBITMQ_PASSWORD", "guest"),
        }
        return
    if not Path(RABBITMQ_SERVER).exists():
        install_rabbitmq()
    port, dist_port, epmd_port = free_port(), free_port(), free_port()
    base = workdir / "rabbitmq"
    base.mkdir()
    # consumer_timeout: the 0.7.0 plugin never acknowledges, so RabbitMQ would close its channels after the default
    # 30 minutes and the services would silently stop consuming. One day is beyond any run of this example.
    (base / "rabbitmq.conf").write_text(
        f"listeners.tcp.default = 127.0.0.1:{port}\nconsumer_timeout = 86400000\nlog.console = false\n"
    )
    env = os.environ | {
        "HOME": str(base),  # the Erlang cookie goes here
        "RABBITMQ_NODENAME": f"e2e{os.getpid()}@localhost",
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(dist_port),
        "ERL_EPMD_PORT": str(epmd_port),  # our own epmd, stopped with the node
        "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
        "RABBITMQ_LOG_BASE": str(base / "log"),
        "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
        "RABBITMQ_PID_FILE": str(base / "pid"),
    }
    epmd = shutil.which("epmd", path="/usr/bin:/usr/lib/erlang/bin") or "epmd"
    epmd_command = [epmd, "-port", str(epmd_port)]
    with running(epmd_command, env, base / "epmd.log"), running([RABBITMQ_SERVER], env, base / "server.log"):
        settings = {"host": "127.0.0.1", "port": port, "user": "guest", "password": "guest"}
        log(f"starting RabbitMQ on port {port}...")
        asyncio.run(wait_for_rabbitmq(settings))
        yield settings


def install_rabbitmq() -> None:
    if os.geteuid() != 0:
        raise SystemExit(
            "RabbitMQ is needed: set RABBITMQ_HOST (and RABBITMQ_PORT/USER/PASSWORD) to a server, or install "
            "Debian's rabbitmq-server (apt-get install rabbitmq-server) and run again."
        )
    log("installing rabbitmq-server with apt...")
    apt = {"DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update"], check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    subprocess.run(
        ["apt-get", "install", "-y", "--no-install-recommends", "rabbitmq-server"],
        check=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        env=os.environ | apt,
    )


async def wait_for_rabbitmq(settings: dict[str, Any]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            connection = await aio_pika.connect(amqp_url(settings))
            await connection.close()
            return
        except Exception as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"RabbitMQ is not reachable at {settings['host']}:{settings['port']}") from exc
            await asyncio.sleep(0.2)


def amqp_url(settings: dict[str, Any]) -> str:
    return f"amqp://{settings['user']}:{settings['password']}@{settings['host']}:{settings['port']}/"


@contextmanager
def running(command: list[str], env: dict[str, str], output: Path) -> Iterator[subprocess.Popen]:
    """A child process in its own process group, stopped (TERM, then KILL) with everything it spawned."""
    with output.open("ab") as sink:
        process = subprocess.Popen(
            command, env=env, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    try:
        yield process
    finally:
        stop(process, output.stem)


def stop(process: subprocess.Popen, name: str) -> None:
    if process.poll() is not None:
        return
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        log(f"{name} did not stop on SIGTERM: killing it")
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def databases(pg: dict[str, Any]) -> Iterator[dict[str, str]]:
    """One database per service, its schema applied once before any replica starts; dropped at the end."""
    names = {service: f"e2e_{os.getpid()}_{service}" for service in SERVICES}
    with closing(connect(pg, "postgres")) as admin:
        admin.autocommit = True
        with admin.cursor() as cursor:
            for name in names.values():
                cursor.execute(f"CREATE DATABASE {name}")
        try:
            for service, name in names.items():
                with closing(connect(pg, name)) as connection, connection, connection.cursor() as cursor:
                    cursor.execute(SCHEMAS[service])
                    if service == "stock":
                        for item, units in STOCK.items():
                            cursor.execute("INSERT INTO stock VALUES (%s, %s, %s)", (item, units, units))
            yield names
        finally:
            try:
                with admin.cursor() as cursor:
                    for name in names.values():
                        cursor.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            except psycopg2.Error as exc:  # e.g. a throwaway server that Ctrl-C already stopped
                log(f"could not drop the databases: {exc}")


def connect(pg: dict[str, Any], database: str) -> Any:
    return psycopg2.connect(
        host=pg["host"], port=pg["port"], user=pg["user"], password=pg["password"], dbname=database, connect_timeout=5
    )


async def declare_queues(rabbitmq: dict[str, Any]) -> None:
    connection = await aio_pika.connect(amqp_url(rabbitmq))
    async with connection:
        channel = await connection.channel()
        for topic in TOPICS:
            queue = await channel.declare_queue(topic)  # the plugin's own (default) arguments
            await queue.purge()  # leftovers of an earlier run on a shared server


# -- services -------------------------------------------------------------------------------------------------------


class Services:
    """The shop's processes: ``order-1``, ``order-2``, ``stock``, ``payment``, each launched from its config."""

    def __init__(self, stack: ExitStack, workdir: Path, rabbitmq: dict[str, Any], pg: dict[str, Any], names):
        self.stack, self.workdir, self.rabbitmq, self.pg, self.names = stack, workdir, rabbitmq, pg, names
        self.processes: dict[str, subprocess.Popen] = {}
        stack.callback(self.stop_all)

    def environment(self, service: str) -> dict[str, str]:
        env = dict(os.environ)
        for key, value in self.rabbitmq.items():
            env[f"MINOS_INTERFACES_BROKER_COMMON_{key.upper()}"] = str(value)
        for database in ("DEFAULT", "SAGA"):
            for key, value in self.pg.items():
                env[f"MINOS_DATABASES_{database}_{key.upper()}"] = str(value)
            env[f"MINOS_DATABASES_{database}_DATABASE"] = self.names[service]
        return env

    def start(self, name: str) -> None:
        service = name.split("-")[0]
        output = self.workdir / f"{name}.log"
        with output.open("ab") as sink:
            sink.write(f"--- started at {time.strftime('%H:%M:%S')}\n".encode())
            self.processes[name] = subprocess.Popen(
                [sys.executable, str(HERE / "run_service.py"), str(HERE / service / "config.yml")],
                env=self.environment(service),
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=HERE,
                start_new_session=True,
            )

    def wait_ready(self, *names: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        for name in names:
            output = self.workdir / f"{name}.log"
            while READY_LINE not in output.read_text(errors="replace").rsplit("--- started", 1)[-1]:
                if self.processes[name].poll() is not None:
                    raise RuntimeError(f"{name} exited while starting:\n{self.tail(name)}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not start in {START_TIMEOUT:.0f}s:\n{self.tail(name)}")
                time.sleep(0.1)

    def kill(self, name: str) -> None:
        process = self.processes.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def restart_if_dead(self, name: str) -> None:
        if name not in self.processes:
            log(f"restarting {name}")
            self.start(name)

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{self.tail(name)}")

    def tail(self, name: str, lines: int = 30) -> str:
        return "\n".join((self.workdir / f"{name}.log").read_text(errors="replace").splitlines()[-lines:])

    def stop_all(self) -> None:
        for name, process in self.processes.items():
            stop(process, name)


# -- the run --------------------------------------------------------------------------------------------------------


def plan(count: int, seed: int, faults: float) -> list[dict[str, Any]]:
    """The orders: about one in five over the card limit (declined by payment), some gadgets (which run out), and
    a ``faults`` fraction of the widgets under the limit marked with a payment ``fault``: their reply lost once (the
    saga's re-send gets it: they finish) or never answered (the saga times out and compensates)."""
    rng = random.Random(seed)
    orders = []
    for id_ in range(1, count + 1):
        item = "gadget" if rng.random() < 0.15 else "widget"
        amount = rng.randint(CARD_LIMIT + 1, 2 * CARD_LIMIT) if rng.random() < 0.2 else rng.randint(1, CARD_LIMIT)
        order = {"id": id_, "item": item, "quantity": rng.randint(1, 3), "amount": amount}
        if item == "widget" and amount <= CARD_LIMIT and rng.random() < faults:
            order["fault"] = rng.choice(FAULTS)
        orders.append(order)
    return orders


WAITING = (
    "SELECT count(*) FROM saga_execution WHERE status IN ('created', 'running', 'paused') OR document ? 'orchestrator'"
)
"""Stored executions not at rest: running or paused, or still holding orchestrator metadata (messages in their
outbox, unsent or awaiting an answer such as a compensation's acknowledgement, a wake time, or stalled
compensations; see docs/timeouts.md). Finished executions are deleted, so at the end every row must be an
``errored`` one without metadata."""


class Orders:
    """Reads the order service's database."""

    def __init__(self, pg: dict[str, Any], database: str):
        self.connection = connect(pg, database)
        self.connection.autocommit = True

    def concluded(self) -> int:
        return self.scalar("SELECT count(*) FROM orders WHERE status IN ('finished', 'compensated')")

    def executions_waiting(self) -> int:
        return self.scalar(WAITING)

    def scalar(self, sql: str) -> int:
        with self.connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchone()[0]

    def close(self) -> None:
        self.connection.close()


async def drive(
    services: Services, rabbitmq: dict[str, Any], orders: Orders, plan_: list[dict[str, Any]], args: argparse.Namespace
) -> float:
    """Send ``CreateOrder`` commands keeping at most ``args.in_flight`` orders unconcluded, kill ``order-1`` when
    ``args.kill_at`` of them were sent, restart it a moment later, and wait until every saga concluded (or the
    deadline passed). Returns the elapsed seconds."""
    connection = await aio_pika.connect(amqp_url(rabbitmq))
    async with connection:
        channel = await connection.channel()
        started = time.monotonic()
        sent, killed_at = 0, None
        kill_after = int(len(plan_) * args.kill_at)
        while sent < len(plan_):
            services.check_alive()
            if killed_at is None and sent >= kill_after:
                log(f"SIGKILL order-1 after {sent} orders sent ({orders.concluded()} concluded)")
                services.kill("order-1")
                killed_at = time.monotonic()
            if killed_at is not None and time.monotonic() - killed_at >= args.down_for:
                services.restart_if_dead("order-1")
            if sent - orders.concluded() >= args.in_flight:
                await asyncio.sleep(0.02)
                continue
            order = plan_[sent]
            message = BrokerMessageV1("CreateOrder", BrokerMessageV1Payload(order))
            await channel.default_exchange.publish(aio_pika.Message(message.avro_bytes), routing_key="CreateOrder")
            sent += 1
        if killed_at is not None:
            await asyncio.sleep(max(0.0, args.down_for - (time.monotonic() - killed_at)))
            services.restart_if_dead("order-1")

        deadline = time.monotonic() + args.deadline
        while orders.concluded() < len(plan_) or orders.executions_waiting():
            services.check_alive()
            if time.monotonic() > deadline:
                log(f"deadline: {len(plan_) - orders.concluded()} orders not concluded")
                break
            await asyncio.sleep(0.05)
        return time.monotonic() - started


def check(pg: dict[str, Any], names: dict[str, str], plan_: list[dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    """Every figure of the summary, and the inconsistencies found."""
    problems: list[str] = []

    def rows(service: str, sql: str) -> list[tuple]:
        with closing(connect(pg, names[service])) as connection, connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall()

    status = dict(rows("order", "SELECT id, status FROM orders"))
    finished = {id_ for id_, value in status.items() if value == "finished"}
    compensated = {id_ for id_, value in status.items() if value == "compensated"}
    stuck = len(plan_) - len(finished) - len(compensated)
    stuck += rows("order", WAITING)[0][0]

    twice = 0
    for service in ("stock", "payment"):
        twice += rows(
            service, "SELECT count(*) FROM (SELECT 1 FROM effects GROUP BY order_id, action HAVING count(*) > 1) t"
        )[0][0]

    held = {
        id_: (item, quantity)
        for id_, item, quantity in rows("stock", "SELECT order_id, item, quantity FROM holds WHERE state = 'held'")
    }
    stock_ok = set(held) == finished
    for item, initial, available in rows("stock", "SELECT item, initial, available FROM stock"):
        in_holds = sum(quantity for held_item, quantity in held.values() if held_item == item)
        stock_ok &= available + in_holds == initial and available >= 0
    if not stock_ok:
        problems.append("stock ledger: held units do not match the finished orders and the inventory")

    amounts = {order["id"]: order["amount"] for order in plan_}
    charged = dict(rows("payment", "SELECT order_id, amount FROM payments WHERE state = 'charged'"))
    [(balance,)] = rows("payment", "SELECT balance FROM account")
    money_ok = set(charged) == finished and balance == sum(charged.values()) == sum(amounts[id_] for id_ in finished)
    money_ok &= not any(amounts[id_] > CARD_LIMIT for id_ in finished)
    if not money_ok:
        problems.append("money ledger: charges do not match the finished orders and the balance")

    reserved = sum(
        rows(service, "SELECT count(*) FROM transactions WHERE state = 'reserved'")[0][0] for service in SERVICES
    )
    # Widgets never run out and these amounts are never declined: a compensation means a participant refused a
    # request it should have accepted (e.g. a step re-sent under a new identifier, which @idempotent refuses), or
    # a reply took longer than all the payment step's attempts. Orders whose payment never answers must compensate,
    # by the step's timeout (nothing else can end their wait); those whose reply was lost once must finish, by the
    # step's re-send.
    unanswered = {order["id"] for order in plan_ if order.get("fault") == NO_REPLY}
    lost_once = {order["id"] for order in plan_ if order.get("fault") == REPLY_LOST_ONCE}
    unexpected = sum(
        1
        for order in plan_
        if order["id"] in compensated - unanswered and order["item"] == "widget" and order["amount"] <= CARD_LIMIT
    )
    if unexpected:
        problems.append(f"{unexpected} orders compensated that should have finished")
    if unanswered - compensated:
        problems.append(f"{len(unanswered - compensated)} orders whose payment never answered were not compensated")
    if lost_once - finished:
        problems.append(f"{len(lost_once - finished)} orders whose payment reply was lost once did not finish")
    if stuck:
        problems.append(f"{stuck} sagas stuck")
    if twice:
        problems.append(f"{twice} steps run twice")
    if reserved:
        problems.append(f"{reserved} transactions left reserved (neither committed nor rejected)")
    figures = {
        "finished": len(finished),
        "compensated": len(compensated),
        "declined": sum(1 for id_ in compensated if amounts[id_] > CARD_LIMIT),
        "timed_out": len(unanswered & compensated),
        "unanswered": len(unanswered),
        "retried": len(lost_once & finished),
        "lost_once": len(lost_once),
        "unexpected": unexpected,
        "stuck": stuck,
        "twice": twice,
        "stock": "consistent" if stock_ok else "INCONSISTENT",
        "money": "consistent" if money_ok else "INCONSISTENT",
        "reserved": reserved,
    }
    return figures, problems


SUMMARY = (
    "e2e: {count} sagas, 2 order replicas (order-1 SIGKILLed mid-run and restarted): finished {finished} "
    "({retried} of {lost_once} after a lost payment reply and its re-send), compensated {compensated} "
    "({declined} declined by payment, {timed_out} of {unanswered} timed out waiting for payment, {unexpected} that "
    "should have finished, the rest out of stock), stuck {stuck}, steps run twice {twice}, stock ledger {stock}, "
    "money ledger {money}, transactions left reserved {reserved}, {rate:.1f} sagas/s -> {verdict}"
)


def summary(figures: dict[str, Any], count: int, elapsed: float, problems: list[str]) -> str:
    """The last line of the run."""
    return SUMMARY.format(count=count, rate=count / elapsed, verdict="FAILED" if problems else "OK", **figures)


def interrupt(*_: Any) -> None:
    """The first SIGINT or SIGTERM unwinds the run, stopping what it started; later ones (Ctrl-C reaches ``uv run``
    and this process, and ``uv`` forwards it again) must not interrupt that cleanup."""
    ignore_interrupts()
    raise KeyboardInterrupt


def ignore_interrupts() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


async def until_interrupted(coroutine: Any) -> Any:
    """Await ``coroutine``; an interrupt cancels it (raising ``KeyboardInterrupt`` here) instead of surfacing in
    whichever callback the event loop runs at that moment, where a library may swallow it."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None

    def cancel() -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        ignore_interrupts()
        task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, cancel)
    try:
        return await coroutine
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            if loop.remove_signal_handler(sig):
                signal.signal(sig, interrupt)


def main() -> int:
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    try:
        return run()
    except KeyboardInterrupt:
        log("interrupted: everything started was stopped")
        return 130


def run() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=300, help="sagas to run (default 300)")
    parser.add_argument("--in-flight", type=int, default=30, help="orders unconcluded at most (default 30)")
    parser.add_argument("--kill-at", type=float, default=0.4, help="fraction sent when order-1 is killed")
    parser.add_argument("--down-for", type=float, default=1.0, help="seconds order-1 stays dead")
    parser.add_argument("--deadline", type=float, default=120.0, help="seconds to conclude after the last send")
    parser.add_argument(
        "--faults", type=float, default=0.08, help="payment faults among widget orders under the limit (default 0.08)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--logs", type=Path, help="keep the services' logs in this directory")
    args = parser.parse_args()

    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="minos-saga-e2e-")))
        rabbitmq = stack.enter_context(rabbitmq_server(workdir))
        pg = stack.enter_context(postgres_server())
        names = stack.enter_context(databases(pg))
        asyncio.run(declare_queues(rabbitmq))

        if args.logs is not None:
            args.logs.mkdir(parents=True, exist_ok=True)
        services = Services(stack, args.logs or workdir, rabbitmq, pg, names)
        log("starting order-1, stock and payment...")
        for name in ("order-1", "stock", "payment"):
            services.start(name)
        services.wait_ready("order-1", "stock", "payment")
        log("starting order-2 (after order-1 created the saga table)...")
        services.start("order-2")
        services.wait_ready("order-2")

        orders = Orders(pg, names["order"])
        stack.callback(orders.close)
        plan_ = plan(args.orders, args.seed, args.faults)
        log(f"driving {len(plan_)} sagas, at most {args.in_flight} in flight...")
        try:
            elapsed = asyncio.run(until_interrupted(drive(services, rabbitmq, orders, plan_, args)))
        except RuntimeError as exc:
            log(str(exc))
            return 1
        figures, problems = check(pg, names, plan_)
        for problem in problems:
            log(f"INCONSISTENT: {problem}")
        if problems:
            for name in services.processes:
                log(f"last lines of {name}:\n{services.tail(name, 15)}")
        print(summary(figures, len(plan_), elapsed, problems), flush=True)
        return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
