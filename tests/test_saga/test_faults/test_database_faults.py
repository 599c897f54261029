"""The same saga under database faults, with the orchestrator left running: a database restart mid-run, the lock
session terminated mid-step while another replica handles the same reply, and a server-side cancel of a lock wait
(``statement_timeout``). Every saga must still end committed or compensated, each step run once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .faults import fault_env
from .system import Order, SagaSystem, running_system
from .zygote import Zygote

ORDERS = [Order("committed-order", 10), Order("refused-order", 500)]


@pytest.fixture
def impatient_system(
    zygote: Zygote, saga_database: dict[str, Any], broker_database: dict[str, Any], tmp_path: Path
) -> Iterator[SagaSystem]:
    """Participants and orchestrators whose saga repository has the server cancel statements after 500 ms."""
    with running_system(zygote, saga_database | {"statement_timeout": 0.5}, broker_database, tmp_path) as system:
        yield system


# A reply consumed by a handler whose store (or lock wait) then fails is gone (the broker does not redeliver), and
# the stored saga still awaits it: the steps' reply timeout re-sends the request and the participant repeats its reply.


@pytest.mark.parametrize(
    "call",  # stores are counted per orchestrator process; which step a number hits depends on the engine
    [
        pytest.param(2, id="at the 2nd store"),
        pytest.param(5, id="at the 5th store"),
    ],
)
async def test_a_database_restart_mid_run_leaves_no_saga_behind(restartable_system: SagaSystem, call: int) -> None:
    restartable_system.start_participants()
    restartable_system.start_orchestrator(ORDERS, fault_env("store", "before", call, action="restart_database"))

    await restartable_system.wait_at_rest()

    await restartable_system.assert_each_order_committed_or_compensated(ORDERS, all_started=True)


async def test_a_replica_that_lost_its_lock_mid_step_changes_nothing(system: SagaSystem) -> None:
    system.start_participants()
    system.start_orchestrator(start_on="lock_lost")  # the other replica, up when the lock is lost
    system.start_orchestrator(ORDERS, fault_env("apply_reply", "before", 1, action="lose_lock"))

    await system.wait_event("lock_lost")
    await system.wait_at_rest()

    await system.assert_each_order_committed_or_compensated(ORDERS, all_started=True)


async def test_a_server_side_cancel_of_a_lock_wait_leaves_no_saga_behind(impatient_system: SagaSystem) -> None:
    impatient_system.start_participants()
    impatient_system.start_orchestrator(ORDERS, fault_env("send", "before", 1, action="hold_lock"))

    await impatient_system.wait_at_rest()

    await impatient_system.assert_each_order_committed_or_compensated(ORDERS, all_started=True)
