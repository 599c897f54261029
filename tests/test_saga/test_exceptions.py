"""The exception hierarchy."""

from __future__ import annotations

from minos.common import MinosException

from minos.saga import (
    EmptySagaException,
    SagaCallbackReturnTypeException,
    SagaException,
    SagaExecutionException,
    SagaFailedCommitCallbackException,
    SagaFailedExecutionException,
    SagaFailedExecutionStepException,
    SagaResponseException,
    SagaResponseStatusException,
    SagaStepExecutionException,
)


def test_hierarchy():
    assert issubclass(SagaException, MinosException)
    assert issubclass(SagaFailedExecutionStepException, SagaFailedExecutionException)
    assert issubclass(SagaFailedExecutionStepException, SagaStepExecutionException)
    assert issubclass(SagaFailedCommitCallbackException, SagaFailedExecutionException)
    assert issubclass(SagaFailedExecutionException, SagaExecutionException)
    assert issubclass(SagaResponseStatusException, SagaResponseException)
    assert issubclass(SagaCallbackReturnTypeException, SagaException)


def test_default_message():
    assert EmptySagaException.default_message in str(EmptySagaException())


def test_failed_keeps_exception():
    cause = ValueError("x")
    exc = SagaFailedExecutionStepException(cause)
    assert exc.exception is cause
    assert "ValueError" in str(exc)
    assert SagaFailedCommitCallbackException(cause).exception is cause
