"""Documents this package stores are read, checked and resumed by the published 0.7.0 (a rolling deploy or a
rollback puts 0.7.0 on them), with the outcome this package has on the same document and reply.

0.7.0 runs as a black box in a scratch venv cached in ``.upstream-venv/`` (built by ``benchmarks/upstream.py``, which
needs PyPI). When it cannot be built the test is skipped, and fails under ``CI=true``.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from saga_compat_callbacks import (
    always_false,
    charge_payment,
    is_premium,
    mark_done,
    payment_charged,
    refund_payment,
    release_stock,
    reserve_stock,
    stock_reserved,
    validate_order,
)

from minos.saga import Saga, SagaContext, SagaExecution, SagaManager, SagaResponse, SagaStatus
from minos.saga.executions.repositories import SagaExecutionRepository

REPOSITORY = Path(__file__).resolve().parents[3]
SCRIPT = REPOSITORY / "tests" / "fixtures" / "upstream" / "resume_documents.py"


def upstream_python() -> Path:
    """0.7.0's interpreter, building the cached venv first if needed (under a file lock: concurrent runs, such as
    ``make matrix``, build it once)."""
    sys.path.insert(0, str(REPOSITORY / "benchmarks"))
    try:
        from upstream import ensure_upstream_venv, venv_path
    finally:
        sys.path.remove(str(REPOSITORY / "benchmarks"))
    with (REPOSITORY / ".upstream-venv.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        python, error = ensure_upstream_venv(venv_path())
    if python is None:
        _unavailable(f"0.7.0's venv is unavailable: {error}")
    assert python is not None
    return python


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def resume_with(python: Path | str, cases: list[dict[str, Any]], tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(cases))
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    process = subprocess.run(
        [str(python), str(SCRIPT), str(path)], cwd="/", env=env, capture_output=True, text=True, timeout=300
    )
    assert process.returncode == 0, process.stderr[-3000:]
    return json.loads(process.stdout)


class RecordingRepository(SagaExecutionRepository):
    """Keeps the last document stored for each execution, as a storage backend would receive it."""

    def __init__(self) -> None:
        super().__init__()
        self.documents: dict[Any, dict[str, Any]] = {}

    async def _store(self, execution: SagaExecution) -> None:
        self.documents[execution.uuid] = json.loads(json.dumps(execution.raw))

    async def _load(self, uuid):
        return SagaExecution.from_raw(self.documents[uuid])

    async def _delete(self, uuid) -> None:
        self.documents.pop(uuid, None)


def remote_steps() -> Saga:
    return (
        Saga()
        .local_step(validate_order)
        .remote_step(reserve_stock)
        .on_success(stock_reserved)
        .on_failure(release_stock)
        .remote_step(charge_payment)
        .on_success(payment_charged)
        .on_failure(refund_payment)
        .local_step(mark_done, status="finished")
        .commit()
    )


def conditional_steps() -> Saga:
    # The first inner reply writes no context: 0.7.0 drops what inner steps wrote before the inner saga's last pause
    # (see docs/migrating.md), which is behaviour, not the document format this test is about.
    inner = (
        Saga()
        .remote_step(reserve_stock)
        .on_failure(release_stock)
        .remote_step(charge_payment)
        .on_success(payment_charged)
        .commit()
    )
    saga = Saga()
    saga.local_step(validate_order)
    saga.conditional_step().if_then(always_false, Saga().local_step(mark_done, status="never").commit()).if_then(
        is_premium, inner
    ).else_then(Saga().local_step(mark_done, status="standard").commit())
    return saga.local_step(mark_done, status="finished").commit()


def reply(content: Any, status: int = 200, services: tuple[str, ...] = ("stock",)) -> dict[str, Any]:
    return {"content": content, "status": status, "related_services": list(services)}


ORDER = {"order_id": 7, "items": ["book"], "total": 12, "tier": "premium"}


async def stored_documents(broker_pool) -> list[dict[str, Any]]:
    """Documents as this package's manager stores them, plus finished and errored executions."""
    storage = RecordingRepository()
    manager = SagaManager(storage=storage, broker_pool=broker_pool)
    cases = []

    async def run(saga: Saga | None = None, response: dict[str, Any] | None = None, uuid=None) -> SagaExecution:
        options = dict(pause_on_disk=True, autocommit=False, raise_on_error=False)
        if saga is not None:
            return await manager.run(saga, SagaContext(**ORDER), **options)
        assert response is not None
        answer = SagaResponse(response["content"], set(response["related_services"]), response["status"], uuid)
        return await manager.run(response=answer, **options)

    def add(name: str, execution: SagaExecution, then: dict[str, Any] | None) -> None:
        cases.append({"name": name, "raw": storage.documents[execution.uuid], "reply": then})

    for name, saga in (("remote", remote_steps()), ("conditional", conditional_steps())):
        execution = await run(saga)
        add(f"{name}: paused on the first request", execution, reply({"reservation": 1}))
        execution = await run(response=reply({"reservation": 1}), uuid=execution.uuid)
        add(f"{name}: paused on the second request", execution, reply("paid", services=("payment",)))
        add(f"{name}: paused on the second request, refused", execution, reply("no funds", 500, ("payment",)))
        execution = await run(response=reply("no funds", 500, ("payment",)), uuid=execution.uuid)
        assert execution.status == SagaStatus.Errored
        add(f"{name}: errored and compensated", execution, None)

    finished = SagaExecution.from_definition(
        Saga().local_step(validate_order).local_step(mark_done).commit(), SagaContext(**ORDER)
    )
    await finished.execute(autocommit=False)
    cases.append({"name": "local: finished", "raw": json.loads(json.dumps(finished.raw)), "reply": None})
    return cases


async def test_upstream_loads_checks_and_resumes_stored_documents(injector, broker_pool, tmp_path):
    cases = await stored_documents(broker_pool)
    expected = {
        "remote: paused on the first request": "paused",
        "remote: paused on the second request": "finished",
        "remote: paused on the second request, refused": "errored",
        "remote: errored and compensated": "errored",
        "conditional: paused on the first request": "paused",
        "conditional: paused on the second request": "finished",
        "conditional: paused on the second request, refused": "errored",
        "conditional: errored and compensated": "errored",
        "local: finished": "finished",
    }
    assert [case["name"] for case in cases] == list(expected)

    upstream = resume_with(upstream_python(), cases, tmp_path)
    ours = resume_with(sys.executable, cases, tmp_path)

    for case, before, after in zip(cases, upstream, ours):
        assert before["load"] == "loaded", (case["name"], before)
        assert before["same_document"], f"0.7.0 rewrites the {case['name']!r} document differently"
        assert before["resumed"]["status"] == expected[case["name"]], (case["name"], before)
        assert before == after, case["name"]
