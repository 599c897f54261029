"""A run leaves no reference cycle behind: reference counting frees what it built as soon as it ends, so a busy
service does not hand the cycle collector a few objects per saga (for local sagas, collections cost ~4% of a run)."""

from __future__ import annotations

import gc
from collections.abc import Awaitable
from contextlib import suppress

import pytest

from minos.saga import Saga, SagaContext, SagaExecution, SagaFailedExecutionStepException
from tests.test_saga.test_executions.helpers import paused, remote_definition, reply
from tests.test_saga.utils import add_amount, add_order, delete_order, fail_local


async def left_for_the_collector(run: Awaitable[object]) -> list[str]:
    """The kinds of the objects ``run`` left unreachable in reference cycles (collection paused meanwhile)."""
    gc.collect()  # what came before (pausing, the test's own machinery) is not the run's
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)  # keep what it finds, to name it in the failure
    try:
        with suppress(SagaFailedExecutionStepException):  # compensated: the run ended
            await run
        gc.collect()
        return sorted({type(item).__name__ for item in gc.garbage})
    finally:
        gc.set_debug(0)
        gc.enable()
        gc.garbage.clear()


@pytest.fixture(autouse=True)
async def named_service(injector) -> None:
    """A first run reads the service's name from the injected config, once (minos' ``Config`` reads a key through
    a function that refers to itself: a cycle per read, not per run)."""
    await SagaExecution.from_definition(Saga().local_step(add_order).commit()).execute(autocommit=False)


async def test_a_local_run():
    saga = Saga().local_step(add_order).local_step(add_amount).local_step(add_amount).commit()
    execution = SagaExecution.from_definition(saga, SagaContext(amount=0))

    assert await left_for_the_collector(execution.execute(autocommit=False)) == []


async def test_a_failed_local_run_with_its_compensations():
    saga = Saga().local_step(add_order).on_failure(delete_order).local_step(fail_local).commit()
    execution = SagaExecution.from_definition(saga)

    assert await left_for_the_collector(execution.execute(autocommit=False)) == []


async def test_a_reply_to_a_paused_remote_step():
    execution = await paused(remote_definition())

    assert await left_for_the_collector(execution.execute(reply(execution), autocommit=False)) == []
