"""Benchmark workloads for ``minos.saga``, shared verbatim by both implementations.

Run as a script by ``benchmarks/run.py`` once per (implementation, workload), under the interpreter
whose ``minos.saga`` is being measured (the published 0.7.0 in a scratch venv, or this project):

    python benchmarks/workloads.py WORKLOAD DURATION [--repeats N]

It prints exactly one JSON line on stdout (everything else goes to stderr). Only the public
``minos.saga`` API and ``wiring.wire()`` (``benchmarks/wiring.py``) are used. Callbacks are module-level
functions of *this* module, imported as ``workloads`` (never ``__main__``), so definitions serialised by path
resolve on both sides.

Measurement: warm-up, then ``N`` repeats of ``DURATION / N`` seconds of process CPU time each (iterations
counted; CPU time so that other processes on a shared machine do not count); each repeat gives
ops/s = iterations / elapsed; "best" is the max over repeats. Each
iteration rebuilds the order context from the same values (0.7.0's ``SagaContext`` has no
``copy()``), so context construction is part of every measured operation on both sides.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import platform
import sys
import time
import tracemalloc
from datetime import datetime, timezone
from pathlib import Path
from uuid import UUID, uuid4

# ---------------------------------------------------------------------------------------------
# Callbacks (module level: definitions name them as ``workloads.<name>``).
# ---------------------------------------------------------------------------------------------
# ``minos.saga`` is imported lazily in main() so that this module can also be imported by
# run.py (under any interpreter) without importing an implementation; callbacks that need
# SagaRequest get it from the module globals populated by ``_import_saga()``.
SagaRequest = None  # populated by _import_saga()


def local_0(context):
    context["step_0"] = 0
    return context


def local_1(context):
    context["step_1"] = 1
    return context


def local_2(context):
    context["step_2"] = 2
    return context


def local_3(context):
    context["step_3"] = 3
    return context


def local_4(context):
    context["step_4"] = 4
    return context


LOCAL_STEPS = [local_0, local_1, local_2, local_3, local_4]


def request_1(context):
    return SagaRequest("Target1", {"order_id": context["order_id"], "items": context["items"]})


def request_2(context):
    return SagaRequest("Target2", {"order_id": context["order_id"], "total": context["total"]})


def request_3(context):
    return SagaRequest("Target3", {"order_id": context["order_id"], "customer": context["customer"]})


REQUESTS = [request_1, request_2, request_3]


async def success_1(context, response):
    context["reply_1"] = await response.content()
    return context


async def success_2(context, response):
    context["reply_2"] = await response.content()
    return context


async def success_3(context, response):
    context["reply_3"] = await response.content()
    return context


SUCCESSES = [success_1, success_2, success_3]

# Compensations of the failing saga: they record that they ran and keep the context (return None).
COMPENSATED: list[int] = []


def compensate_0(context):
    COMPENSATED.append(0)


def compensate_1(context):
    COMPENSATED.append(1)


def failing_step(context):
    context["step_2"] = 2  # mutate, then fail: the mutation must not leak into the execution context
    raise ValueError("payment provider unavailable")


# ---------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------
CUSTOMER = uuid4()
CREATED_AT = datetime.now(timezone.utc)
ITEMS = [{"sku": "A-1", "qty": 2}, {"sku": "B-7", "qty": 1}]


def _import_saga():
    global SagaRequest
    import minos.saga as saga_module

    SagaRequest = saga_module.SagaRequest
    return saga_module


def make_context(ms):
    return ms.SagaContext(
        order_id=42,
        customer=CUSTOMER,
        items=[dict(item) for item in ITEMS],
        total=99.5,
        created_at=CREATED_AT,
        tier="basic",
    )


def base_dict():
    return {
        "order_id": 42,
        "customer": CUSTOMER,
        "items": ITEMS,
        "total": 99.5,
        "created_at": CREATED_AT,
        "tier": "basic",
    }


def local5_saga(ms):
    saga = ms.Saga()
    for fn in LOCAL_STEPS:
        saga.local_step(fn)
    return saga.commit()


def remote3_saga(ms):
    saga = ms.Saga()
    for req, ok in zip(REQUESTS, SUCCESSES):
        saga.remote_step(req).on_success(ok)
    return saga.commit()


def failing_saga(ms):
    return (
        ms.Saga()
        .local_step(local_0)
        .on_failure(compensate_0)
        .local_step(local_1)
        .on_failure(compensate_1)
        .local_step(failing_step)
        .commit()
    )


def reply(ms, execution, i):
    return ms.SagaResponse({"ok": i}, {"svc"}, status=200, uuid=execution.uuid)


# ---------------------------------------------------------------------------------------------
# Workloads: each ``setup_*`` checks the behaviour once (outside the timed loop) and returns the
# coroutine function timed per iteration.
# ---------------------------------------------------------------------------------------------
# NOTE on autocommit: 0.7.0 runs the two-phase commit (``_Reserve<Service>Transaction`` sent
# through a broker client, then waiting for every participant's reply) for *every* finished
# execution with autocommit=True -- even a saga of local steps only, because each executed step
# lists this service ("order") among its related services. With the in-memory wiring nobody
# answers, so execute() blocks ~60 s and raises SagaFailedCommitCallbackException. We therefore
# call ``execute(..., autocommit=False)`` wherever an execution finishes (local5, remote3): the
# benchmark measures the saga engine, not the broker round trip of the commit protocol.


async def setup_local5(ms, publisher):
    saga = local5_saga(ms)

    async def op():
        execution = ms.SagaExecution.from_definition(saga, context=make_context(ms))
        return await execution.execute(autocommit=False)

    # check once
    execution = ms.SagaExecution.from_definition(saga, context=make_context(ms))
    result = await execution.execute(autocommit=False)
    assert execution.status == ms.SagaStatus.Finished, execution.status
    expected = base_dict() | {f"step_{i}": i for i in range(5)}
    assert dict(result) == expected, dict(result)
    assert dict(execution.context) == expected
    return op


async def run_remote3(ms, saga, context, check=False):
    """Create, pause on each remote step, feed three replies; returns the finished execution."""
    execution = ms.SagaExecution.from_definition(saga, context=context)
    try:
        await execution.execute(autocommit=False)
        raise AssertionError("first execute() did not pause")
    except ms.SagaPausedExecutionStepException:
        pass
    for i in (1, 2):
        try:
            await execution.execute(response=reply(ms, execution, i), autocommit=False)
            raise AssertionError(f"execute(reply {i}) did not pause")
        except ms.SagaPausedExecutionStepException:
            pass
        if check:
            assert execution.status == ms.SagaStatus.Paused, execution.status
    result = await execution.execute(response=reply(ms, execution, 3), autocommit=False)
    if check:
        assert execution.status == ms.SagaStatus.Finished, execution.status
        expected = base_dict() | {"reply_1": {"ok": 1}, "reply_2": {"ok": 2}, "reply_3": {"ok": 3}}
        assert dict(result) == expected, dict(result)
    return execution


async def setup_remote3(ms, publisher):
    saga = remote3_saga(ms)
    await run_remote3(ms, saga, make_context(ms), check=True)
    assert [m.topic for m in publisher.messages][-3:] == ["Target1", "Target2", "Target3"], [
        m.topic for m in publisher.messages
    ]

    async def op():
        await run_remote3(ms, saga, make_context(ms))

    return op


async def paused_on_step_2(ms, saga):
    execution = ms.SagaExecution.from_definition(saga, context=make_context(ms))
    for response in (None, reply(ms, execution, 1)):
        try:
            await execution.execute(response=response, autocommit=False)
            raise AssertionError("did not pause")
        except ms.SagaPausedExecutionStepException:
            pass
    return execution


def _json_default(value):
    # execution.raw is plain JSON on 0.7.0 (uuid/status are already strings); this only guards
    # an implementation that leaves UUIDs/enums in it. Identical on both sides.
    if isinstance(value, UUID):
        return str(value)
    if hasattr(value, "value"):
        return value.value
    return str(value)


def roundtrip(ms, execution):
    return ms.SagaExecution.from_raw(json.loads(json.dumps(execution.raw, default=_json_default)))


async def setup_raw_roundtrip(ms, publisher):
    saga = remote3_saga(ms)
    execution = await paused_on_step_2(ms, saga)

    # check once: the loaded execution is equivalent and can be resumed to the end
    loaded = roundtrip(ms, execution)
    assert loaded.uuid == execution.uuid
    assert loaded.status == ms.SagaStatus.Paused == execution.status
    assert dict(loaded.context) == dict(execution.context) == base_dict() | {"reply_1": {"ok": 1}}
    assert loaded.definition == saga
    for i in (2,):
        try:
            await loaded.execute(response=reply(ms, loaded, i), autocommit=False)
            raise AssertionError("did not pause")
        except ms.SagaPausedExecutionStepException:
            pass
    result = await loaded.execute(response=reply(ms, loaded, 3), autocommit=False)
    assert loaded.status == ms.SagaStatus.Finished
    assert dict(result) == base_dict() | {"reply_1": {"ok": 1}, "reply_2": {"ok": 2}, "reply_3": {"ok": 3}}

    async def op():
        return roundtrip(ms, execution)

    return op


async def setup_failing_local(ms, publisher):
    saga = failing_saga(ms)

    async def op():
        COMPENSATED.clear()
        execution = ms.SagaExecution.from_definition(saga, context=make_context(ms))
        try:
            await execution.execute()  # fails before the end: commit is never reached
        except ms.SagaFailedExecutionException:
            return execution
        raise AssertionError("execute() did not raise SagaFailedExecutionException")

    # check once: context left as before the failing step, compensations newest first
    execution = await op()
    assert execution.status == ms.SagaStatus.Errored, execution.status
    assert dict(execution.context) == base_dict() | {"step_0": 0, "step_1": 1}, dict(execution.context)
    assert COMPENSATED == [1, 0], COMPENSATED
    return op


def request_step(context):
    return SagaRequest("Target", {"order_id": context["order_id"]})


async def record_reply(context, response):
    context["replies"] = context.get("replies", 0) + 1
    return context


def document_repository(ms):
    """A repository keeping each execution as JSON text, as a document database would: every pause stores the
    execution and every reply loads it back. Each side uses the best its public API offers for such a store. 0.7.0
    offers the whole document (``execution.raw``), so each pause writes all of it and each reply parses all of it.
    ``minos.saga`` offers ``IncrementalSagaExecutionRepository``: the same store keeps the text of the definition, of
    the state and of each executed step, so a pause writes the state and the steps that changed (the parts joined
    are the whole document, byte for byte), and a reply returns the texts, which the engine parses only when it has
    not seen them."""
    if hasattr(ms, "IncrementalSagaExecutionRepository"):
        return _parts_repository(ms)
    from minos.saga.executions.repositories import SagaExecutionRepository

    class DocumentRepository(SagaExecutionRepository):
        def __init__(self):
            super().__init__()
            self.documents = {}

        async def _store(self, execution):
            self.documents[execution.uuid] = json.dumps(execution.raw, default=_json_default)

        async def _load(self, uuid):
            return ms.SagaExecution.from_raw(json.loads(self.documents[uuid]))

        async def _delete(self, uuid):
            self.documents.pop(uuid, None)

    return DocumentRepository()


def _parts_repository(ms):
    """The document store of ``document_repository`` writing executions in parts: per execution, the definition's
    text, the state's text, a list of step texts and the revision, as a table of executions and one of steps would;
    a write replaces the steps from the first that changed."""

    class DocumentRepository(ms.IncrementalSagaExecutionRepository):
        def __init__(self):
            super().__init__()
            self.documents = {}

        async def _write_parts(self, parts):
            stored = self.documents.get(parts.uuid)
            if stored is None:
                steps = list(parts.steps)
            else:
                steps = stored[2]
                start = parts.first_changed(stored[3])
                del steps[start:]
                steps.extend(parts.steps[start:])
            self.documents[parts.uuid] = (parts.definition, parts.state, steps, parts.revision)

        async def _read_parts(self, uuid):
            definition, state, steps, revision = self.documents[uuid]
            return ms.SagaExecutionParts(uuid, definition, state, tuple(steps), revision)

        async def _delete(self, uuid):
            self.documents.pop(uuid, None)

    return DocumentRepository()


def persisted_setup(steps):
    """A saga of ``steps`` remote steps run by a ``SagaManager`` pausing on disk: started, then resumed by one reply
    per step, each resume loading the stored execution and storing it again at the next pause."""

    async def setup(ms, publisher):
        saga = ms.Saga()
        for _ in range(steps):
            saga.remote_step(request_step).on_success(record_reply)
        saga = saga.commit()
        storage = document_repository(ms)
        manager = ms.SagaManager(storage=storage)
        options = {"pause_on_disk": True, "autocommit": False}

        async def op():
            uuid = await manager.run(saga, context=make_context(ms), return_execution=False, **options)
            for i in range(steps):
                response = ms.SagaResponse({"ok": i}, {"svc"}, status=200, uuid=uuid)
                execution = await manager.run(response=response, **options)
            return execution

        # check once: every reply ran its callback, the execution finished and left the storage
        execution = await op()
        assert execution.status == ms.SagaStatus.Finished, execution.status
        assert dict(execution.context) == base_dict() | {"replies": steps}, dict(execution.context)
        assert not storage.documents, storage.documents
        assert len(publisher.messages) == steps, len(publisher.messages)
        return op

    return setup


PERSISTED_STEPS = (1, 5, 20, 100)

SETUPS = {
    "local5": setup_local5,
    "remote3": setup_remote3,
    "raw_roundtrip": setup_raw_roundtrip,
    "failing_local": setup_failing_local,
    **{f"persisted{steps}": persisted_setup(steps) for steps in PERSISTED_STEPS},
}


# ---------------------------------------------------------------------------------------------
# Measurement
# ---------------------------------------------------------------------------------------------
async def measure(op, publisher, duration: float, repeats: int) -> dict:
    """Ops per second of this process's CPU time: other processes on a shared machine do not count against it."""
    messages = publisher.messages  # the in-memory publisher keeps every message: drop them per op
    warmup_seconds = min(1.0, max(0.5, duration * 0.1))
    warmup_iterations = await warm_up(op, messages, warmup_seconds)
    results = [await one_repeat(op, messages, duration / repeats) for _ in range(repeats)]
    best = max(r["ops_per_s"] for r in results)
    ordered = sorted(r["ops_per_s"] for r in results)
    return {
        "mode": "fixed CPU time",
        "ops_per_s": best,
        "median_ops_per_s": ordered[len(ordered) // 2],
        "us_per_op_best": 1e6 / best,
        "repeats": results,
        "warmup_seconds": warmup_seconds,
        "warmup_iterations": warmup_iterations,
        "iterations_total": sum(r["iterations"] for r in results),
        "measured_seconds": sum(r["seconds"] for r in results),
    }


async def warm_up(op, messages, seconds: float) -> int:
    """Run ``op`` for ``seconds`` of CPU time and at least 20 times; how many times it ran."""
    iterations = 0
    end = time.process_time() + seconds
    while time.process_time() < end or iterations < 20:
        await op()
        messages.clear()
        iterations += 1
    return iterations


async def one_repeat(op, messages, seconds: float) -> dict:
    """Run ``op`` for ``seconds`` of CPU time; the iterations, the CPU seconds they took and their rate."""
    gc.collect()
    count = 0
    start = time.process_time()
    end = start + seconds
    now = start
    while now < end:
        await op()
        messages.clear()
        count += 1
        now = time.process_time()
    elapsed = now - start
    return {"iterations": count, "seconds": elapsed, "ops_per_s": count / elapsed}


async def measure_memory(ms, publisher, count: int) -> dict:
    """Bytes held per paused execution (remote3 paused on step 1), via tracemalloc."""
    saga = remote3_saga(ms)

    async def paused():
        execution = ms.SagaExecution.from_definition(saga, context=make_context(ms))
        try:
            await execution.execute(autocommit=False)
        except ms.SagaPausedExecutionStepException:
            return execution
        raise AssertionError("did not pause")

    # warm-up so one-time caches (schemas, imports, ...) are not charged to the executions
    warm = [await paused() for _ in range(200)]
    del warm
    publisher.messages.clear()
    gc.collect()

    tracemalloc.start()
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    held = [await paused() for _ in range(count)]
    # The in-memory publisher retains the request each execution published: a real broker
    # would have shipped it, so it is not charged to the execution.
    publisher.messages.clear()
    gc.collect()
    after, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert all(e.status == ms.SagaStatus.Paused for e in held)
    total = after - before
    return {
        "mode": "tracemalloc",
        "executions": count,
        "total_bytes": total,
        "bytes_per_execution": total / count,
        "peak_bytes_during_build": peak - before,
    }


async def amain(workload: str, duration: float, repeats: int, memory_count: int) -> dict:
    ms = _import_saga()
    import wiring  # benchmarks/wiring.py, on sys.path as this script's directory

    injector = await wiring.wire()
    publisher = injector.broker_publisher
    try:
        if workload == "memory":
            result = await measure_memory(ms, publisher, memory_count)
        else:
            op = await SETUPS[workload](ms, publisher)
            publisher.messages.clear()
            result = await measure(op, publisher, duration, repeats)
    finally:
        try:
            await injector.unwire_and_destroy_injections()
        except Exception as exc:  # teardown problems must not hide the measurement
            print(f"teardown: {exc!r}", file=sys.stderr)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=[*SETUPS, "memory"])
    parser.add_argument("duration", type=float, help="measured seconds (split over the repeats)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--memory-count", type=int, default=2000)
    args = parser.parse_args(argv)

    out = {"workload": args.workload, "python": platform.python_version(), "executable": sys.executable}
    try:
        result = asyncio.run(amain(args.workload, args.duration, args.repeats, args.memory_count))
        import minos.saga

        out.update(
            ok=True,
            saga_version=getattr(minos.saga, "__version__", None),
            saga_file=getattr(minos.saga, "__file__", None),
            **result,
        )
        code = 0
    except BaseException as exc:  # report any failure as data; run.py marks the row FAIL
        import traceback

        traceback.print_exc(file=sys.stderr)
        out.update(ok=False, error=f"{type(exc).__name__}: {exc}")
        code = 1
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    return code


if __name__ == "__main__":
    # Re-import this file as ``workloads`` so the callbacks are named ``workloads.<fn>``, not
    # ``__main__.<fn>`` (definitions and raw documents reference callbacks by import path).
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import workloads

    sys.exit(workloads.main())
