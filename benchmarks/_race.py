"""One run of ``benchmarks/postgresql.py``'s resume race (b), in a process of its own.

    python benchmarks/_race.py DATABASE SAGAS PROTOCOL

4 SagaManagers, each on its own repository (separate pools), start SAGAS sagas that pause on their first remote
step; then every reply is delivered twice, concurrently, to two different managers. Prints one JSON line: resumes/s,
client and server CPU per resume, how many steps ran twice or never, and the file ``minos.saga`` came from.

A process of its own so that every contender starts from the same state, and so that the package it measures is
the one its ``sys.path`` finds first: this package, or the one issue 12 was filed against (``PYTHONPATH`` naming a
tree of that commit). It uses only names both provide. PROTOCOL is ``repository`` (the package's own repository) or
``filing-time protocol`` (this package's engine on the filing-time round trips, see ``_filing_time_protocol``).
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import random
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path
from uuid import uuid4

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

import minos.saga  # noqa: E402
from minos.saga import (  # noqa: E402
    PostgreSqlSagaExecutionRepository,
    Saga,
    SagaContext,
    SagaManager,
    SagaRequest,
    SagaResponse,
    SagaStatus,
)

PG = {
    "host": os.environ.get("PGHOST", "localhost"),
    "port": int(os.environ.get("PGPORT", "5432")),
    "user": os.environ.get("PGUSER", "postgres"),
    "password": os.environ.get("PGPASSWORD", "postgres"),
}
MANAGERS = 4

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
    """An injector with an in-memory broker publisher, as a service's config would build one."""
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


def reply_to_last_request(publisher: InMemoryBrokerPublisher) -> SagaResponse:
    """The successful reply a participant would send to the last request published."""
    request = publisher.messages[-1]
    message = BrokerMessageV1(
        topic=request.reply_topic,
        payload=BrokerMessageV1Payload({"ok": True}, headers=request.headers, status=200),
        identifier=request.identifier,
    )
    return SagaResponse.from_message(message)


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


def repository_class(protocol: str) -> type[PostgreSqlSagaExecutionRepository]:
    if protocol == "repository":
        return PostgreSqlSagaExecutionRepository
    if protocol == "filing-time protocol":
        from _filing_time_protocol import FilingTimeRepository  # this package's internals: imported only here

        return FilingTimeRepository
    raise ValueError(f"unknown protocol: {protocol!r}")


async def race(database: str, sagas: int, protocol: str) -> dict:
    """The race on a table of its own (paused sagas are counted per run)."""
    random.seed(sagas)  # every contender's replies go to the same pairs of managers
    injector = await wire()
    publisher = injector.broker_publisher
    table = f"race_{uuid4().hex[:8]}"
    kind = repository_class(protocol)
    managers = [SagaManager(storage=kind(database, maxsize=8, table_name=table, **PG)) for _ in range(MANAGERS)]
    try:
        for manager in managers:
            await manager.setup()
        keys, replies = [], []
        for index in range(sagas):
            key = uuid4().hex
            await managers[index % MANAGERS].run(SAGA, SagaContext(key=key), pause_on_disk=True)
            keys.append(key)
            replies.append(reply_to_last_request(publisher))

        async def deliver(response: SagaResponse) -> None:
            first, second = random.sample(managers, 2)
            options = dict(response=response, pause_on_disk=True, raise_on_error=False)
            await asyncio.gather(first.run(**options), second.run(**options))

        server_cpu = await ServerCpu.of(database)
        gc.collect()  # the race does not pay for the garbage of the starts
        server_started = server_cpu.seconds()
        cpu, started = time.process_time(), time.perf_counter()
        await asyncio.gather(*(deliver(response) for response in replies))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        server_ended = server_cpu.seconds()

        async with aiopg.connect(dbname=database, **PG) as connection, connection.cursor() as cursor:
            await cursor.execute(f"SELECT count(*) FROM {table} WHERE status = %s", (SagaStatus.Paused.value,))
            (paused,) = await cursor.fetchone()
        return {
            "package": minos.saga.__file__,
            "resumes_per_s": sagas / elapsed,
            "client_cpu_ms_per_resume": cpu * 1000 / sagas,
            "server_cpu_ms_per_resume": None
            if server_started is None or server_ended is None
            else (server_ended - server_started) * 1000 / sagas,
            "ran_twice": sum(1 for key in keys if SUCCESSES[key] > 1),
            "never_ran": sum(1 for key in keys if SUCCESSES[key] == 0),
            "paused_on_second_step": paused,
        }
    finally:
        for manager in managers:
            await manager.destroy()
        await injector.unwire_and_destroy_injections()


if __name__ == "__main__":
    database, sagas, protocol = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    print(json.dumps(asyncio.run(race(database, sagas, protocol))))
