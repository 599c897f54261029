"""A remote saga with two participants whose orchestrator is killed (SIGKILL) at each crash point, then restarted
with recovery running: every saga ends committed or compensated, each participant action is done once."""

from __future__ import annotations

import pytest

from .faults import fault_env
from .system import Order, SagaSystem

ORDERS = [Order("committed-order", 10), Order("refused-order", 500)]
# "while applying a reply": the reply was consumed (the broker does not redeliver) and the stored saga still awaits
# it; the steps' reply timeout re-sends the request with its identity and the participant repeats its reply.


@pytest.mark.parametrize(
    ("boundary", "moment", "call"),
    [
        pytest.param("send", "before", 1, id="before publishing a new saga's first request"),
        pytest.param("send", "after", 1, id="after publishing a new saga's first request"),
        pytest.param("store", "before", 1, id="before storing a new saga"),
        pytest.param("store", "after", 1, id="after storing a new saga"),
        pytest.param("apply_reply", "before", 1, id="while applying a reply"),
        pytest.param("send", "before", 2, id="before publishing the next request"),
        pytest.param("send", "after", 2, id="after publishing the next request"),
        pytest.param("store", "before", 2, id="before storing a resumed saga"),
        pytest.param("store", "after", 2, id="after storing a resumed saga"),
        pytest.param("compensation_send", "before", 1, id="before publishing a compensation"),
        pytest.param("compensation_send", "after", 1, id="after publishing a compensation"),
    ],
)
async def test_killed_orchestrator_restarts_and_every_saga_ends(
    system: SagaSystem, boundary: str, moment: str, call: int
) -> None:
    system.start_participants()
    system.start_orchestrator(start_on="restart")
    await system.wait_killed(system.start_orchestrator(ORDERS, fault_env(boundary, moment, call)))

    system.note("restart")
    await system.wait_at_rest()

    await system.assert_each_order_committed_or_compensated(ORDERS, all_started=False)
