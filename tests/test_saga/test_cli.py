"""``minos-saga`` end to end: the installed entry point, run as a process on a service's config file, against a real
PostgreSQL holding executions a real SagaManager stored."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from minos.saga import PostgreSqlSagaExecutionRepository, SagaContext, SagaExecution, SagaManager, SagaStatus

ENTRY_POINT = Path(sys.executable).parent / "minos-saga"

SERVICE_MODULE = '''
"""The sagas of the service under test (stored executions name these callbacks by import path)."""

import json
import os

from minos.networks import BrokerPublisher

from minos.saga import Saga, SagaContext, SagaRequest


def create_order(context: SagaContext) -> SagaContext:
    context["order"] = "created"
    return context


def reserve_stock(context: SagaContext) -> SagaRequest:
    return SagaRequest("ReserveStock", {"order_id": context["order_id"], "quantity": 2})


def release_stock(context: SagaContext) -> SagaRequest:
    return SagaRequest("ReleaseStock", {"order_id": context["order_id"]})


def decline_card(context: SagaContext) -> SagaContext:
    raise ValueError("card declined")


CREATE_ORDER = Saga().local_step(create_order).remote_step(reserve_stock).on_failure(release_stock).commit()
PAY_ORDER = Saga().local_step(create_order).local_step(decline_card).commit()


class RecordingPublisher(BrokerPublisher):
    """The service's broker, as far as the test can see: each message sent is a line of sent.jsonl."""

    async def _send(self, message) -> None:
        record = {"topic": message.topic, "identifier": str(message.identifier), "saga": message.headers.get("saga")}
        with open(os.path.join(os.path.dirname(__file__), "sent.jsonl"), "a") as file:
            file.write(json.dumps(record) + "\\n")
'''


def config_text(
    database: dict[str, Any], publisher: str = "minos.networks.InMemoryBrokerPublisher", **overrides
) -> str:
    saga = {"repository": "minos.saga.PostgreSqlSagaExecutionRepository", **database, **overrides}
    entries = "\n".join(f"    {key}: {value}" for key, value in saga.items())
    broker = f"interfaces:\n  broker:\n    publisher:\n      client: {publisher}\n"
    pools = "pools:\n  broker: minos.networks.BrokerClientPool\n"
    return f"version: 2\nname: order\ndatabases:\n  saga:\n{entries}\n{broker}{pools}"


@pytest.fixture
def service(tmp_path: Path, postgres_database: dict[str, Any], monkeypatch) -> Path:
    """A service directory: its config.yml (a table of its own) and the module of its sagas."""
    module = f"order_sagas_{uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(SERVICE_MODULE)
    table = f"saga_{uuid4().hex[:8]}"
    (tmp_path / "config.yml").write_text(
        config_text(postgres_database, f"{module}.RecordingPublisher", table_name=table)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "module").write_text(module)
    return tmp_path


@pytest.fixture
async def stored(service: Path, injector, broker_pool, broker_publisher) -> AsyncIterator[dict[str, SagaExecution]]:
    """A paused and an errored execution, stored by a SagaManager configured from the service's config.yml."""
    from minos.common import Config

    sagas = __import__((service / "module").read_text())
    manager = SagaManager.from_config(Config(service / "config.yml"), broker_pool=broker_pool)
    assert isinstance(manager.storage, PostgreSqlSagaExecutionRepository)
    await manager.setup()
    try:
        paused = await manager.run(sagas.CREATE_ORDER, SagaContext(order_id=7), pause_on_disk=True)
        request = broker_publisher.messages[-1]
        errored = await manager.run(sagas.PAY_ORDER, SagaContext(order_id=8), pause_on_disk=True, raise_on_error=False)
        yield {"paused": paused, "errored": errored, "module": sagas, "request": request, "storage": manager.storage}
    finally:
        await manager.destroy()


def minos_saga(service: Path, *arguments: str, config: Path | None = None) -> subprocess.CompletedProcess:
    """Run the installed entry point in the service's directory."""
    return run_all(service, [list(arguments)], config)[0]


def run_all(service: Path, commands: list[list[str]], config: Path | None = None) -> list[subprocess.CompletedProcess]:
    """Run several ``minos-saga`` commands at once (each process spends seconds importing minos)."""
    config_arguments = ["--config", str(config or service / "config.yml")]
    processes = [
        subprocess.Popen(
            [str(ENTRY_POINT), *arguments, *config_arguments],
            cwd=service,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for arguments in commands
    ]
    results = []
    for arguments, process in zip(commands, processes):
        stdout, stderr = process.communicate(timeout=60)
        results.append(subprocess.CompletedProcess(arguments, process.returncode, stdout, stderr))
    return results


def last_line(text: str) -> str:
    """The CLI's own message (minos' dependencies may print import warnings before it)."""
    return text.strip().splitlines()[-1]


def test_entry_point_is_installed():
    assert ENTRY_POINT.is_file(), "the package's console script minos-saga is not installed"


async def test_list_prints_a_table_and_json(service, stored):
    paused, errored = stored["paused"], stored["errored"]
    assert (paused.status, errored.status) == (SagaStatus.Paused, SagaStatus.Errored)

    table, errored_json, first_json, older, newer = run_all(
        service,
        [
            ["list"],
            ["list", "--json", "--status", "errored"],
            ["list", "--json", "--limit", "1"],
            ["list", "--older-than", "1d"],
            ["list", "--newer-than", "1d"],
        ],
    )
    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.strip().splitlines()
    assert header.split() == ["UUID", "STATUS", "STEP", "SAGA", "USER", "UPDATED"]
    assert [row.split()[:4] for row in rows] == [
        [str(paused.uuid), "paused", "1/2", f"{stored['module'].__name__}.create_order"],
        [str(errored.uuid), "errored", "1/2", f"{stored['module'].__name__}.create_order"],
    ]

    listed = json.loads(errored_json.stdout)
    assert [(e["uuid"], e["status"], e["step"], e["steps"]) for e in listed["executions"]] == [
        (str(errored.uuid), "errored", 1, 2)
    ]
    assert listed["next"] is None

    first = json.loads(first_json.stdout)
    assert [e["uuid"] for e in first["executions"]] == [str(paused.uuid)]
    second = json.loads(minos_saga(service, "list", "--json", "--limit", "1", "--after", first["next"]).stdout)
    assert [e["uuid"] for e in second["executions"]] == [str(errored.uuid)]

    assert older.stdout.strip() == "no saga executions"
    assert len(newer.stdout.strip().splitlines()) == 3


async def test_list_stalled_selects_the_executions_whose_compensations_stalled(service, stored):
    errored = stored["errored"]
    errored.compensations_stalled = True
    await stored["storage"].store(errored)

    table, as_json, everything = run_all(
        service, [["list", "--stalled"], ["list", "--stalled", "--json"], ["list", "--json"]]
    )
    assert table.returncode == 0, table.stderr
    _, *rows = table.stdout.strip().splitlines()
    assert [row.split()[:4] for row in rows] == [[str(errored.uuid), "errored", "(compensations", "stalled)"]]
    listed = json.loads(as_json.stdout)["executions"]
    assert [(e["uuid"], e.get("compensations_stalled")) for e in listed] == [(str(errored.uuid), True)]
    assert {e["uuid"] for e in json.loads(everything.stdout)["executions"]} == {
        str(stored["paused"].uuid),
        str(errored.uuid),
    }


async def test_list_rejects_wrong_filters(service, stored):
    wrong = {
        "Unknown saga status 'stuck'": ["list", "--status", "stuck"],
        "limit must be between 1 and 1000": ["list", "--limit", "0"],
        "user must be a UUID": ["list", "--user", "nobody"],
        "is not a duration like": ["list", "--older-than", "yesterday"],
    }
    for message, result in zip(wrong, run_all(service, list(wrong.values()))):
        assert result.returncode == 2, result.args
        assert message in result.stderr, result.stderr


async def test_show_describes_where_an_execution_stands(service, stored):
    paused = stored["paused"]
    result, errored_result = run_all(service, [["show", str(paused.uuid)], ["show", str(stored["errored"].uuid)]])
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert f"execution  {paused.uuid}" in text
    assert "status     paused on step 2 of 2" in text
    assert f"1. local  {stored['module'].__name__}.create_order" in text and "finished" in text
    assert f"2. remote {stored['module'].__name__}.reserve_stock" in text and "paused-by-on-execute  <- waiting" in text
    assert '  order_id: 7\n  order: "created"' in text
    request = stored["request"]
    assert f"  ReserveStock  id {request.identifier}  attempts 1, sent " in text
    assert '    content  {"order_id": 7, "quantity": 2}' in text
    assert "created    " in text and "updated    " in text

    errored = errored_result.stdout
    assert "status     errored after 1 of 2 steps (compensated)" in errored
    assert "2. local " in errored and "failed" in errored


async def test_diagram_marks_progress(service, stored):
    result = minos_saga(service, "diagram", str(stored["paused"].uuid))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("flowchart TD\n")
    assert "    class s1 done\n" in result.stdout
    assert "    class s2 waiting\n" in result.stdout


async def test_unknown_uuid_is_a_clear_error(service, stored):
    for result in run_all(service, [["show", str(uuid4())], ["diagram", "not-a-uuid"]]):
        assert result.returncode == 4
        assert last_line(result.stderr).startswith("minos-saga: no such saga execution:"), result.stderr
        assert "Traceback" not in result.stderr


def test_config_without_saga_storage_is_a_clear_error(service):
    config = service / "no-saga.yml"
    config.write_text("version: 2\nname: order\npools:\n  broker: minos.networks.BrokerClientPool\n")
    result = minos_saga(service, "list", config=config)
    assert result.returncode == 2
    assert "names no saga storage" in result.stderr and "Traceback" not in result.stderr

    missing = minos_saga(service, "show", str(uuid4()), config=service / "absent.yml")
    assert missing.returncode == 2 and "no config file at" in missing.stderr


def test_unreachable_database_is_a_clear_error(service, postgres_database):
    config = service / "unreachable.yml"
    config.write_text(config_text(postgres_database | {"host": "127.0.0.1", "port": 1}))
    result = minos_saga(service, "list", config=config)
    assert result.returncode == 3
    assert "the saga storage is unreachable" in result.stderr and "Traceback" not in result.stderr


def test_python_dash_m(service):
    result = subprocess.run(
        [sys.executable, "-m", "minos.saga", "--help"], cwd=service, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    for command in ("list", "show", "diagram"):
        assert command in result.stdout


def sent(service: Path) -> list[dict[str, Any]]:
    path = service / "sent.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def test_operator_actions(service, stored):
    paused, errored, request = stored["paused"], stored["errored"], stored["request"]

    retried = minos_saga(service, "retry", str(paused.uuid), "--reason", "stock was down")
    assert retried.returncode == 0, retried.stderr
    assert retried.stdout.strip() == f"retried {paused.uuid}: paused on step 2 of 2"
    assert sent(service) == [{"topic": "ReserveStock", "identifier": str(request.identifier), "saga": str(paused.uuid)}]

    compensated = minos_saga(service, "compensate", str(paused.uuid))
    assert compensated.returncode == 0, compensated.stderr
    assert (
        compensated.stdout.strip()
        == f"compensated {paused.uuid}: errored: compensated by an operator after 2 of 2 steps (compensated)"
    )
    # The in-flight step's compensation (its participant may have acted), then the transaction's rejection.
    assert [record["topic"] for record in sent(service)[1:]] == ["ReleaseStock", "_RejectOrderTransaction"]

    refused, abandoned = run_all(
        service, [["retry", str(errored.uuid)], ["abandon", str(errored.uuid), "--reason", "x"]]
    )
    assert refused.returncode == 6 and "nothing to re-send" in last_line(refused.stderr)
    assert abandoned.returncode == 0, abandoned.stderr

    shown = minos_saga(service, "show", str(paused.uuid)).stdout
    assert "operator decisions" in shown and "  retry: stock was down" in shown and "  compensate" in shown
