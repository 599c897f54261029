"""PostgreSqlSagaExecutionRepository benchmarks, against a real server.

    uv run python benchmarks/postgresql.py [--ops N] [--sagas N]

(a) Raw floor: a plain aiopg upsert + select of a paused execution's JSON document, on a row of the repository's own
    table (same columns and indexes), against the repository's ``store`` + ``load`` of the same execution (which
    also serialises and rebuilds the ``SagaExecution``). Reports ops/s of both, the overhead ratio (target
    <= 1.2x) and the CPU time per op of the client and, when the server runs on this machine, of the server (which
    shares its cores).
(b) Resumes per second: 4 SagaManagers, each on its own repository (separate pools), N paused sagas, every reply
    delivered twice concurrently to two different managers. Verifies that no step ran twice. Measured in the same
    run for the repository and for a baseline with the protocol this issue was filed against (lock, select, each
    store and unlock one round trip each, on the connection holding the lock), in alternating rounds; reports the
    ratio (target >= 1.3x: the median of the rounds' ratios, each of two runs next to each other in time, with their
    spread) and the CPU time per resume of the client and, when the server runs on this machine, of the server.
(c) Statements per start, resume and duplicate reply, counted by wrapping aiopg's cursor: every ``execute`` call is
    a round trip, and the statements are those in the SQL text it sent. For both protocols of (b).
(d) The recovery loop (``SagaManager.recover()``, run periodically by every replica) over N paused sagas whose steps
    declare a reply timeout: one pass while no wait has expired (its steady cost), then one pass after the clock
    moved past every timeout (each request re-sent under its lock), reported per 10,000 paused sagas.

Settings from PGHOST/PGPORT/PGUSER/PGPASSWORD (defaults localhost/5432/postgres/postgres); ``make bench`` runs it
under ``python -m tests._postgres``, which sets them to a throwaway server unless PGHOST/PGPORT already name one.
Uses a fresh database, dropped at the end. Exit status 1 if a step ran twice (or never).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from pathlib import Path
from uuid import UUID, uuid4

warnings.simplefilter("ignore")
logging.getLogger("minos").setLevel(logging.ERROR)  # duplicated replies are logged as ignored: expected here

import aiopg  # noqa: E402
import yaml  # noqa: E402
from minos.common import Config, DependencyInjector, PoolFactory  # noqa: E402
from minos.networks import (  # noqa: E402
    BrokerMessageV1,
    BrokerMessageV1Payload,
    InMemoryBrokerPublisher,
    InMemoryBrokerSubscriberBuilder,
)

from minos.saga import (  # noqa: E402
    PostgreSqlSagaExecutionRepository,
    RetryPolicy,
    Saga,
    SagaContext,
    SagaExecution,
    SagaExecutionNotFoundException,
    SagaExecutionRepository,
    SagaManager,
    SagaRequest,
    SagaResponse,
    SagaStatus,
)
from minos.saga.clock import OffsetClock  # noqa: E402
from minos.saga.executions.repositories.postgresql import advisory_lock_key  # noqa: E402
from minos.saga.testing import throwaway_database  # noqa: E402

PG = {
    "host": os.environ.get("PGHOST", "localhost"),
    "port": int(os.environ.get("PGPORT", "5432")),
    "user": os.environ.get("PGUSER", "postgres"),
    "password": os.environ.get("PGPASSWORD", "postgres"),
}
TARGET_OVERHEAD = 1.2
TARGET_SPEEDUP = 1.3
MANAGERS = 4
ROUNDS = 10
RACE_ROUNDS = 8

SUCCESSES: Counter[str] = Counter()


def reserve(context: SagaContext) -> SagaRequest:
    return SagaRequest("ReserveStock", {"key": context["key"]})


def reserved(context: SagaContext, response) -> SagaContext:
    SUCCESSES[context["key"]] += 1
    context["reserved"] = True
    return context


def charge(context: SagaContext) -> SagaRequest:
    return SagaRequest("ChargePayment", {"key": context["key"]})


def charged(context: SagaContext, response) -> SagaContext:
    return context


SAGA = Saga().remote_step(reserve).on_success(reserved).remote_step(charge).on_success(charged).commit()


async def wire() -> DependencyInjector:
    data = {
        "version": 2,
        "name": "order",
        "databases": {"default": {"client": "minos.common.testing.MockedDatabaseClient"}},
        "pools": {"broker": "minos.networks.BrokerClientPool"},
    }
    path = Path(tempfile.mkdtemp()) / "config.yml"
    path.write_text(yaml.safe_dump(data))
    config = Config(path)
    injector = DependencyInjector(
        config, [PoolFactory.from_config(config), InMemoryBrokerPublisher(), InMemoryBrokerSubscriberBuilder()]
    )
    await injector.wire_and_setup_injections(modules=[sys.modules["minos.saga"], sys.modules[__name__]])
    return injector


class ServerCpu:
    """CPU seconds the PostgreSQL server has used, read from ``/proc`` when it runs on this machine (Linux): its
    postmaster, the children it reaped and those alive (backends, writers). ``None`` when it cannot be read there."""

    def __init__(self, postmaster: int | None):
        self.postmaster = postmaster

    @classmethod
    async def of(cls, database: str) -> ServerCpu:
        async with aiopg.connect(dbname=database, **PG) as connection, connection.cursor() as cursor:
            await cursor.execute("SELECT pg_backend_pid()")
            (backend,) = await cursor.fetchone()
        try:
            parent = _proc_stat(backend)[1]
            return cls(parent if _proc_comm(parent) == "postgres" else None)
        except (OSError, ValueError):  # not a local server (or no /proc)
            return cls(None)

    def seconds(self) -> float | None:
        if self.postmaster is None:
            return None
        times, _ = _proc_stat(self.postmaster)
        total = sum(times)  # its own time and that of its reaped children (backends that ended)
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    (user, system, _, _), parent = _proc_stat(int(entry.name))
                except (OSError, ValueError):
                    continue  # ended meanwhile
                if parent == self.postmaster:
                    total += user + system
        return total / os.sysconf("SC_CLK_TCK")


def _proc_stat(pid: int) -> tuple[list[int], int]:
    """utime, stime, cutime, cstime (clock ticks) and the parent pid of a process."""
    with open(f"/proc/{pid}/stat") as file:
        text = file.read()
    fields = text[text.rindex(")") + 2 :].split()  # after the command name, which may hold spaces
    return [int(value) for value in fields[11:15]], int(fields[1])


def _proc_comm(pid: int) -> str:
    with open(f"/proc/{pid}/comm") as file:
        return file.read().strip()


def upsert(table: str) -> str:
    """The plain upsert of a row of ``table`` (a repository's table): the floor of (a) and the filing-time store."""
    return (
        f"INSERT INTO {table} (uuid, status, user_uuid, document) VALUES (%s, %s, %s, %s::jsonb) "
        "ON CONFLICT (uuid) DO UPDATE SET status = EXCLUDED.status, user_uuid = EXCLUDED.user_uuid, "
        f"document = EXCLUDED.document, updated_at = clock_timestamp(), version = {table}.version + 1"
    )


async def floor_vs_repository(database: str, ops: int, publisher: InMemoryBrokerPublisher) -> dict:
    repository = PostgreSqlSagaExecutionRepository(database, maxsize=1, table_name="floor_repository", **PG)
    manager = SagaManager(storage=repository)
    await manager.setup()
    try:
        execution = await manager.run(SAGA, SagaContext(key="floor", amount=3.5), pause_on_disk=True)
        assert execution.status == SagaStatus.Paused
        raw = execution.raw
        document = json.dumps(raw)

        pool = await aiopg.create_pool(dbname=database, minsize=1, maxsize=1, **PG)
        try:
            store = upsert(repository.table_name)
            select = f"SELECT document FROM {repository.table_name} WHERE uuid = %s"
            uuid = str(uuid4())  # a row of its own in the repository's table

            async def floor_op() -> None:
                async with pool.acquire() as connection, connection.cursor() as cursor:
                    await cursor.execute(store, (uuid, raw["status"], None, document))
                async with pool.acquire() as connection, connection.cursor() as cursor:
                    await cursor.execute(select, (uuid,))
                    assert (await cursor.fetchone())[0]["uuid"] == raw["uuid"]

            async def repository_op() -> None:
                await repository.store(execution)
                assert (await repository.load(execution.uuid)).uuid == execution.uuid

            # Alternate short batches of both and keep each side's median: the machine may be shared.
            batch = max(50, ops // ROUNDS)
            rates: dict[str, list[float]] = {"floor": [], "repository": []}
            cpu: dict[str, list[float]] = {"floor": [], "repository": []}
            server: dict[str, list[float]] = {"floor": [], "repository": []}  # seconds of each batch
            server_cpu = await ServerCpu.of(database)
            for _ in range(50):
                await floor_op()
                await repository_op()
            for round_ in range(ROUNDS):
                order = [("floor", floor_op), ("repository", repository_op)]
                for name, op in order if round_ % 2 == 0 else order[::-1]:
                    server_started = server_cpu.seconds()
                    started, cpu_started = time.perf_counter(), time.process_time()
                    for _ in range(batch):
                        await op()
                    rates[name].append(batch / (time.perf_counter() - started))
                    cpu[name].append((time.process_time() - cpu_started) * 1e6 / batch)
                    if server_started is not None and (server_ended := server_cpu.seconds()) is not None:
                        server[name].append(server_ended - server_started)
            results = {name: statistics.median(values) for name, values in rates.items()}
            cpu_us = {name: statistics.median(values) for name, values in cpu.items()}
            # a sum, not a median: the kernel counts CPU time in ticks (10 ms), as long as a few batches
            server_us = {
                name: sum(values) * 1e6 / (batch * ROUNDS) if values else None for name, values in server.items()
            }
        finally:
            pool.close()
            await pool.wait_closed()
    finally:
        await manager.destroy()
    return {
        "floor_ops_per_s": results["floor"],
        "repository_ops_per_s": results["repository"],
        "overhead": results["floor"] / results["repository"],
        "floor_cpu_us": cpu_us["floor"],
        "repository_cpu_us": cpu_us["repository"],
        "floor_server_us": server_us["floor"],
        "repository_server_us": server_us["repository"],
        "document_bytes": len(document),
    }


_FILING_TIME_LOCK: ContextVar[tuple[UUID, aiopg.Cursor] | None] = ContextVar("filing_time_lock", default=None)


class FilingTimeRepository(PostgreSqlSagaExecutionRepository):
    """The baseline of (b): the protocol this issue was filed against. Under an execution's lock, taking the lock,
    reading the row, each store (an upsert) and releasing the lock are one round trip each, on the pooled
    connection that holds the lock; work outside a lock is the repository's own."""

    lock_new = SagaExecutionRepository.lock_new  # the lock, taken in a round trip of its own
    store_at_unlock = SagaExecutionRepository.store_at_unlock  # stores at once
    delete_at_unlock = SagaExecutionRepository.delete_at_unlock  # deletes at once

    @asynccontextmanager
    async def lock(self, uuid: UUID) -> AsyncIterator[None]:
        in_process = SagaExecutionRepository.lock(self, uuid)  # serialised in this process first, as the repository
        async with in_process, self.pool.acquire() as connection, connection.cursor() as cursor:
            await cursor.execute("SELECT pg_advisory_lock(%s)", (advisory_lock_key(uuid),))
            token = _FILING_TIME_LOCK.set((uuid, cursor))
            try:
                yield
            finally:
                _FILING_TIME_LOCK.reset(token)
                await cursor.execute("SELECT pg_advisory_unlock(%s)", (advisory_lock_key(uuid),))

    def _locked(self, uuid: UUID) -> aiopg.Cursor | None:
        held = _FILING_TIME_LOCK.get()
        return held[1] if held is not None and held[0] == uuid else None

    async def _store_document(self, execution: SagaExecution, text: str) -> None:
        if (cursor := self._locked(execution.uuid)) is None:
            return await super()._store_document(execution, text)
        user = None if execution.user is None else str(execution.user)
        await cursor.execute(upsert(self.table_name), (str(execution.uuid), execution.status.raw, user, text))

    async def _load(self, uuid: UUID) -> SagaExecution:
        if (cursor := self._locked(uuid)) is None:
            return await super()._load(uuid)
        await cursor.execute(f"SELECT document::text FROM {self.table_name} WHERE uuid = %s", (str(uuid),))
        if (row := await cursor.fetchone()) is None:
            raise SagaExecutionNotFoundException(f"The {uuid} saga execution does not exist.")
        return SagaExecution.from_raw(json.loads(row[0]))

    async def _delete(self, uuid: UUID) -> None:
        if (cursor := self._locked(uuid)) is None:
            return await super()._delete(uuid)
        await cursor.execute(f"DELETE FROM {self.table_name} WHERE uuid = %s", (str(uuid),))


PROTOCOLS = {"filing-time protocol": FilingTimeRepository, "repository": PostgreSqlSagaExecutionRepository}


async def resumes(
    database: str,
    sagas: int,
    publisher: InMemoryBrokerPublisher,
    protocol: type[PostgreSqlSagaExecutionRepository],
    server_cpu: ServerCpu,
) -> dict:
    table = f"race_{uuid4().hex[:8]}"  # paused sagas are counted per run
    managers = [SagaManager(storage=protocol(database, maxsize=8, table_name=table, **PG)) for _ in range(MANAGERS)]
    for manager in managers:
        await manager.setup()
    try:
        keys, replies = [], []
        for index in range(sagas):
            key = uuid4().hex
            await managers[index % MANAGERS].run(SAGA, SagaContext(key=key), pause_on_disk=True)
            keys.append(key)
            replies.append(reply_to_last_request(publisher))

        async def deliver(index: int, response: SagaResponse) -> None:
            first, second = random.sample(managers, 2)
            options = dict(response=response, pause_on_disk=True, raise_on_error=False)
            await asyncio.gather(first.run(**options), second.run(**options))

        gc.collect()  # neither protocol's run pays for the garbage of the run before it
        server_started = server_cpu.seconds()
        cpu, started = time.process_time(), time.perf_counter()
        await asyncio.gather(*(deliver(index, response) for index, response in enumerate(replies)))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        server_ended = server_cpu.seconds()

        twice = sum(1 for key in keys if SUCCESSES[key] > 1)
        never = sum(1 for key in keys if SUCCESSES[key] == 0)
        summaries = []
        page = await managers[0].storage.list(status=SagaStatus.Paused, limit=1000)
        while page:
            summaries += page
            page = await managers[0].storage.list(status=SagaStatus.Paused, limit=1000, after=page[-1].cursor)
        return {
            "elapsed_s": elapsed,
            "resumes_per_s": sagas / elapsed,
            "client_cpu_ms_per_resume": cpu * 1000 / sagas,
            "server_cpu_ms_per_resume": None
            if server_started is None or server_ended is None
            else (server_ended - server_started) * 1000 / sagas,
            "ran_twice": twice,
            "never_ran": never,
            "paused_on_second_step": len(summaries),
        }
    finally:
        for manager in managers:
            await manager.destroy()


async def race(database: str, sagas: int, publisher: InMemoryBrokerPublisher) -> dict[str, list[dict]]:
    """(b) for both protocols, in rounds of alternating order (the machine may be shared)."""
    runs: dict[str, list[dict]] = {name: [] for name in PROTOCOLS}
    server_cpu = await ServerCpu.of(database)
    for round_ in range(RACE_ROUNDS):
        order = list(PROTOCOLS.items())
        for name, protocol in order if round_ % 2 == 0 else order[::-1]:
            runs[name].append(await resumes(database, sagas, publisher, protocol, server_cpu))
    return runs


TIMED_SAGA = (
    Saga().remote_step(reserve).on_success(reserved).timeout(60).retry(RetryPolicy(maximum_attempts=3)).commit()
)


async def recovery(database: str, sagas: int, publisher: InMemoryBrokerPublisher) -> dict:
    clock = OffsetClock()
    manager = SagaManager(storage=PostgreSqlSagaExecutionRepository(database, maxsize=8, **PG), clock=clock)
    await manager.setup()
    try:
        for _ in range(sagas):
            await manager.run(TIMED_SAGA, SagaContext(key=uuid4().hex), pause_on_disk=True)
        publisher.messages.clear()
        started = time.perf_counter()
        idle_resent = await manager.recover()
        idle_s = time.perf_counter() - started
        clock.advance(3600)
        started = time.perf_counter()
        resent = await manager.recover()
        expired_s = time.perf_counter() - started
        return {"sagas": sagas, "idle_s": idle_s, "idle_resent": idle_resent, "expired_s": expired_s, "resent": resent}
    finally:
        await manager.destroy()


class StatementCounter:
    """Counts the round trips (``aiopg.Cursor.execute`` calls) and SQL statements sent while ``counting()``."""

    def __init__(self) -> None:
        self.round_trips = 0
        self.statements = 0

    @contextmanager
    def counting(self) -> Iterator[None]:
        execute = aiopg.Cursor.execute

        async def counted(cursor: aiopg.Cursor, operation: str, *args, **kwargs):
            self.round_trips += 1
            # the repository's SQL has no ';' inside literals: values travel as parameters
            self.statements += sum(1 for part in operation.split(";") if part.strip())
            return await execute(cursor, operation, *args, **kwargs)

        aiopg.Cursor.execute = counted  # type: ignore[method-assign]
        try:
            yield
        finally:
            aiopg.Cursor.execute = execute  # type: ignore[method-assign]


def reply_to_last_request(publisher: InMemoryBrokerPublisher) -> SagaResponse:
    """The successful reply a participant would send to the last request published."""
    request = publisher.messages[-1]
    message = BrokerMessageV1(
        topic=request.reply_topic,
        payload=BrokerMessageV1Payload({"ok": True}, headers=request.headers, status=200),
        identifier=request.identifier,
    )
    return SagaResponse.from_message(message)


async def statements(
    database: str, sagas: int, publisher: InMemoryBrokerPublisher, protocol: type[PostgreSqlSagaExecutionRepository]
) -> dict:
    """Mean round trips and statements of a start (run until the first pause), a resume (the reply applied, paused
    on the next step) and a duplicate of that reply (ignored), over ``sagas`` sagas run one at a time."""
    table = f"count_{uuid4().hex[:8]}"
    manager = SagaManager(storage=protocol(database, maxsize=1, table_name=table, **PG))
    await manager.setup()
    phases = {phase: StatementCounter() for phase in ("start", "resume", "duplicate reply")}
    options = dict(pause_on_disk=True, raise_on_error=False)
    try:
        await manager.run(SAGA, SagaContext(key="warm-up"), **options)  # the pool opens its connection here
        for _ in range(sagas):
            with phases["start"].counting():
                await manager.run(SAGA, SagaContext(key=uuid4().hex), **options)
            response = reply_to_last_request(publisher)
            with phases["resume"].counting():
                resumed = await manager.run(response=response, **options)
            with phases["duplicate reply"].counting():
                await manager.run(response=response, **options)
            assert resumed.status == SagaStatus.Paused and len(resumed.executed_steps) == 1, resumed
    finally:
        await manager.destroy()
    return {
        phase: {"round_trips": counter.round_trips / sagas, "statements": counter.statements / sagas}
        for phase, counter in phases.items()
    }


async def main(ops: int, sagas: int) -> int:
    with throwaway_database(PG, "minos_saga_bench") as settings:
        database = settings["database"]
        injector = await wire()
        try:
            publisher = injector.broker_publisher
            floor = await floor_vs_repository(database, ops, publisher)
            runs = await race(database, sagas, publisher)
            counted = {name: await statements(database, 20, publisher, kind) for name, kind in PROTOCOLS.items()}
            recovered = await recovery(database, sagas, publisher)
        finally:
            await injector.unwire_and_destroy_injections()

    print(f"PostgreSQL at {PG['host']}:{PG['port']}, database {database} (dropped); {machine()}")
    print(
        f"(a) store+load of a paused execution ({floor['document_bytes']} B JSON), sequential, "
        f"median of {ROUNDS} alternating batches of {max(50, ops // ROUNDS)} ops (a row of the repository's table):"
    )
    for name, label in (("floor", "plain aiopg upsert+select:"), ("repository", "repository store+load:")):
        rate, cpu, server = floor[f"{name}_ops_per_s"], floor[f"{name}_cpu_us"], floor[f"{name}_server_us"]
        server_text = "" if server is None else f", server CPU {server:.0f} us"
        print(f"    {label:<27}{rate:6.0f} ops/s, client CPU {cpu:.0f} us per op{server_text}")
    verdict = "meets" if floor["overhead"] <= TARGET_OVERHEAD else "MISSES"
    print(f"    overhead: {floor['overhead']:.2f}x ({verdict} the <= {TARGET_OVERHEAD}x target)")
    print(
        f"(b) {MANAGERS} SagaManagers on separate pools, {sagas} paused sagas, each reply delivered twice "
        f"({RACE_ROUNDS} rounds, each running both protocols in alternating order; medians):"
    )
    ok = True
    for name, results in runs.items():
        rate = statistics.median(result["resumes_per_s"] for result in results)
        cpu = statistics.median(result["client_cpu_ms_per_resume"] for result in results)
        servers = [r["server_cpu_ms_per_resume"] for r in results if r["server_cpu_ms_per_resume"] is not None]
        server_text = f", server CPU {statistics.median(servers):.2f} ms" if servers else ""
        twice, never = sum(r["ran_twice"] for r in results), sum(r["never_ran"] for r in results)
        paused = sum(r["paused_on_second_step"] for r in results)
        sound = twice == 0 and never == 0 and paused == sagas * len(results)
        ok = ok and sound
        print(
            f"    {name + ':':<22} {rate:5.0f} resumes/s, client CPU {cpu:.2f} ms per resume{server_text}; steps run "
            f"twice: {twice}, never run: {never}, paused on the next step: {paused}/{sagas * len(results)} -> "
            + ("no step ran twice" if sound else "FAILED")
        )
    # Each round's ratio compares two runs next to each other in time, so a load that drifts on a shared machine
    # shifts both; their median is the figure, their spread says how much to trust it.
    ratios = sorted(
        ours["resumes_per_s"] / theirs["resumes_per_s"]
        for ours, theirs in zip(runs["repository"], runs["filing-time protocol"])
    )
    speedup = statistics.median(ratios)
    verdict = "meets" if speedup >= TARGET_SPEEDUP else "MISSES"
    print(
        f"    repository / filing-time protocol: {speedup:.2f}x (rounds {ratios[0]:.2f}-{ratios[-1]:.2f}x; {verdict} "
        f"the >= {TARGET_SPEEDUP}x target)"
    )
    print("(c) per operation of a 2-remote-step saga, mean of 20 sagas after a warm-up one (aiopg cursor calls):")
    for name, phases in counted.items():
        print(f"    {name}:")
        for phase, counts in phases.items():
            statements_, round_trips = counts["statements"], counts["round_trips"]
            print(f"      {phase + ':':<17} {statements_:g} statements in {round_trips:g} round trips")
    per_10k = 10_000 / recovered["sagas"]
    print(f"(d) recover() over {recovered['sagas']} paused sagas whose steps wait 60 s for a reply:")
    print(
        f"    a pass with nothing expired (two indexed queries, not one row per saga): "
        f"{recovered['idle_s'] * 1000:.1f} ms, {recovered['idle_resent']} re-sent"
    )
    print(
        f"    a pass with every wait expired: {recovered['expired_s']:.2f} s for {recovered['resent']} re-sent "
        f"requests, i.e. {recovered['expired_s'] * per_10k:.0f} s per 10,000 paused sagas"
    )
    ok = ok and recovered["idle_resent"] == 0 and recovered["resent"] == recovered["sagas"]
    return 0 if ok else 1


def machine() -> str:
    """The machine the figures come from: cores and load (the server runs on it too when it is a local one)."""
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return f"{os.cpu_count()} cores, load average {load}, Python {platform.python_version()}"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=2000)
    parser.add_argument("--sagas", type=int, default=1000)
    arguments = parser.parse_args()
    sys.exit(asyncio.run(main(arguments.ops, arguments.sagas)))
