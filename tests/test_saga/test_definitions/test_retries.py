"""Reply timeouts, retry policies and saga deadlines in definitions: declared, serialised, 0.7.0 shape kept."""

from __future__ import annotations

from datetime import timedelta

import pytest

from minos.saga import AlreadyCommittedException, RemoteSagaStep, RetryPolicy, Saga, SagaDefinitionFormatException
from tests.test_saga.utils import handle_ticket, send_create_ticket, send_delete_ticket


def test_policy_intervals_back_off_up_to_the_maximum():
    policy = RetryPolicy(maximum_attempts=5, initial_interval=1, backoff_coefficient=3, maximum_interval=5)
    assert [policy.interval(attempts) for attempts in range(1, 6)] == [1.0, 3.0, 5.0, 5.0, 0.0]


@pytest.mark.parametrize(
    "options, error",
    [
        ({"maximum_attempts": 0}, ValueError),
        ({"maximum_attempts": 1.5}, TypeError),
        ({"initial_interval": -1}, ValueError),
        ({"initial_interval": "1"}, TypeError),
        ({"backoff_coefficient": 0.5}, ValueError),
        ({"initial_interval": 2, "maximum_interval": 1}, ValueError),
    ],
)
def test_policy_rejects_invalid_options(options, error):
    with pytest.raises(error):
        RetryPolicy(**options)


def test_step_builder_declares_timeout_and_retry():
    policy = RetryPolicy(maximum_attempts=4, initial_interval=timedelta(seconds=2), retryable_statuses=(500,))
    saga = Saga(deadline=timedelta(minutes=1))
    step = saga.remote_step(send_create_ticket).on_success(handle_ticket).timeout(30).retry(policy)
    saga = step.commit()
    assert (step.reply_timeout, step.retry_policy, saga.deadline) == (30.0, policy, 60.0)
    assert policy.initial_interval == 2.0


def test_definitions_with_options_round_trip_with_new_keys():
    policy = RetryPolicy(maximum_attempts=2, maximum_interval=10, retryable_statuses=(500,))
    saga = Saga(deadline=90).remote_step(send_create_ticket).timeout(5).retry(policy).commit()
    raw = saga.raw
    assert raw["deadline"] == 90.0
    assert raw["steps"][0]["timeout"] == 5.0
    assert raw["steps"][0]["retry"] == {
        "maximum_attempts": 2,
        "initial_interval": 1.0,
        "backoff_coefficient": 2.0,
        "maximum_interval": 10.0,
        "retryable_statuses": [500],
    }
    assert Saga.from_raw(raw) == saga
    assert Saga.from_raw(raw).steps[0].retry_policy == policy


def test_definitions_without_options_keep_the_0_7_0_keys():
    saga = Saga().remote_step(send_create_ticket).on_failure(send_delete_ticket).commit()
    assert set(saga.raw) == {"steps", "committed"}
    assert set(saga.raw["steps"][0]) == {"cls", "on_execute", "on_failure", "on_success", "on_error"}
    assert len(tuple(saga.steps[0])) == 4  # compared and printed as in 0.7.0


def test_options_make_steps_differ():
    plain = RemoteSagaStep(send_create_ticket)
    assert plain != RemoteSagaStep(send_create_ticket).timeout(1)
    assert RemoteSagaStep(send_create_ticket).timeout(1) == RemoteSagaStep(send_create_ticket, timeout=1)


@pytest.mark.parametrize("seconds", [0, -1])
def test_timeout_must_be_positive(seconds):
    with pytest.raises(ValueError):
        RemoteSagaStep(send_create_ticket).timeout(seconds)
    with pytest.raises(ValueError):
        Saga(deadline=seconds)


def test_retry_needs_a_policy():
    with pytest.raises(TypeError):
        RemoteSagaStep(send_create_ticket).retry(3)  # type: ignore[arg-type]


def test_malformed_raw_policy_is_a_format_error():
    raw = Saga().remote_step(send_create_ticket).commit().raw
    raw["steps"][0]["retry"] = {"maximum_attempts": 0}
    with pytest.raises(SagaDefinitionFormatException):
        Saga.from_raw(raw)


def test_a_committed_step_refuses_new_options():
    step = Saga().remote_step(send_create_ticket).commit().steps[0]
    with pytest.raises(AlreadyCommittedException):
        step.timeout(5)
    with pytest.raises(AlreadyCommittedException):
        step.retry(RetryPolicy())
