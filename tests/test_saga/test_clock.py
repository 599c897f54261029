"""The clocks SagaManager reads."""

from __future__ import annotations

from datetime import timedelta

from minos.saga.clock import OffsetClock, SystemClock


def test_offset_clock_runs_ahead_of_the_machine_by_what_it_was_advanced():
    clock = OffsetClock()
    before = SystemClock().now()
    clock.advance(90)
    ahead = clock.now() - SystemClock().now()
    assert timedelta(seconds=89) < ahead <= timedelta(seconds=90)
    assert clock.now() - before >= timedelta(seconds=90)
