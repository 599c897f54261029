"""The saga exception hierarchy, rooted in minos' ``MinosException`` (names and bases as in 0.7.0)."""

from __future__ import annotations

from minos.common import ConnectionException, MinosException


class SagaException(MinosException):
    """Base of every saga error; subclasses describe themselves when raised without a message (their
    ``default_message``)."""

    default_message = "The saga failed."

    def __init__(self, message: str | None = None):
        super().__init__(message if message is not None else self.default_message)


class SagaStepException(SagaException):
    """A saga step definition is wrong."""

    default_message = "The saga step is not valid."


class SagaExecutionException(SagaException):
    """A saga execution cannot go on."""

    default_message = "The saga execution failed."


class SagaStepExecutionException(SagaException):
    """A step execution cannot go on."""

    default_message = "The saga step execution failed."


class SagaResponseException(SagaException):
    """A saga response is malformed or does not belong to the execution."""

    default_message = "The saga response is not valid."


class EmptySagaException(SagaException):
    """Raised when a saga without steps is validated or executed: there would be nothing to run."""

    default_message = "The saga must have at least one step."


class SagaNotCommittedException(SagaException):
    """Raised when an uncommitted saga is executed: only a frozen definition can be run and stored."""

    default_message = "The saga must be committed before being executed."


class AlreadyCommittedException(SagaException):
    """Raised when a committed saga, or one of its steps, is changed: a committed definition is immutable."""

    default_message = "The saga is already committed; it cannot be modified."


class SagaNotDefinedException(SagaStepException):
    """Raised when a step's chaining method needs its saga but the step belongs to none."""

    default_message = "The step does not belong to any saga."


class AlreadyOnSagaException(SagaStepException):
    """Raised when a step of one saga is added to another: a step belongs to one saga only."""

    default_message = "The step already belongs to a saga."


class EmptySagaStepException(SagaStepException):
    """Raised when a step without any callback is validated: it would do nothing."""

    default_message = "The step has no actions."


class UndefinedOnExecuteException(SagaStepException):
    """Raised when a step has callbacks but no ``on_execute``: the others only react to it."""

    default_message = "The step has no 'on_execute' callback."


class MultipleOnExecuteException(SagaStepException):
    """Raised when ``on_execute`` is set twice on one step: a step runs one action."""

    default_message = "The step already has an 'on_execute' callback."


class MultipleOnFailureException(SagaStepException):
    """Raised when ``on_failure`` is set twice on one step: a step has one compensation."""

    default_message = "The step already has an 'on_failure' callback."


class MultipleOnSuccessException(SagaStepException):
    """Raised when ``on_success`` is set twice on one remote step: one handler reads the reply."""

    default_message = "The step already has an 'on_success' callback."


class MultipleOnErrorException(SagaStepException):
    """Raised when ``on_error`` is set twice on one remote step: one handler reads an error reply."""

    default_message = "The step already has an 'on_error' callback."


class MultipleElseThenException(SagaStepException):
    """Raised when ``else_then`` is set twice on one conditional step: there is one fallback."""

    default_message = "The conditional step already has an 'else_then' alternative."


class SagaDefinitionFormatException(SagaStepException, TypeError):
    """A raw saga document cannot be turned into a definition (unknown class, missing key, bad callback).

    A ``TypeError`` too: 0.7.0 raised ``TypeError`` for a ``cls`` naming the wrong kind of class."""

    default_message = "The raw saga definition is not valid."


class SagaExecutionNotFoundException(SagaExecutionException):
    """Raised when a repository holds no execution with the given uuid (or the uuid is not one)."""

    default_message = "The saga execution was not found."


class SagaOperatorActionException(SagaExecutionException):
    """An operator action (retry, compensate, abandon) does not apply to the execution in the state it is in."""

    default_message = "The operator action does not apply to the saga execution in its current state."


class SagaExecutionAlreadyExecutedException(SagaExecutionException):
    """Raised when a finished or errored execution is run again: it has nothing left to do."""

    default_message = "The saga execution has already been executed."


class SagaExecutionFormatException(SagaExecutionException, TypeError):
    """A raw execution document is malformed or written by an unknown/newer format.

    A ``TypeError`` too: 0.7.0 raised ``TypeError`` for a ``cls`` naming the wrong kind of class."""

    default_message = "The raw saga execution is not valid."


class SagaExecutionLockLostException(SagaExecutionException, ConnectionException):
    """This process no longer holds the execution's lock (its database session was lost, or another process stored
    the execution since this one read it): the work in progress was not stored, and nothing it would have sent
    left. A ``ConnectionException`` too, so handlers treat it as the infrastructure fault it is."""

    default_message = "The saga execution lock was lost; nothing was stored."


class SagaRollbackExecutionException(SagaExecutionException):
    """Raised when an execution cannot be rolled back (already rolled back, or a compensation failed)."""

    default_message = "The saga execution could not be rolled back."


class SagaFailedExecutionException(SagaExecutionException):
    """An execution failed because of ``exception``, which is kept for the caller."""

    def __init__(self, exception: Exception, message: str | None = None):
        self.exception = exception
        """What made the execution fail."""
        if message is None:
            message = f"There was a failure while executing the saga: {exception!r}"
        super().__init__(message)


class ExecutorException(SagaException):
    """A callback run by an executor failed because of ``exception``, which is kept for the caller."""

    def __init__(self, exception: Exception, message: str | None = None):
        self.exception = exception
        """What the callback raised."""
        super().__init__(message if message is not None else f"A saga callback failed: {exception!r}")


class SagaFailedCommitCallbackException(SagaFailedExecutionException):
    """The two-phase commit of a finished execution was refused by a participant."""


class SagaPausedExecutionStepException(SagaStepExecutionException):
    """Raised inside the engine when a remote step has sent its request and must wait for the reply."""

    default_message = "The step execution is paused, waiting for a reply."


class SagaFailedExecutionStepException(SagaStepExecutionException, SagaFailedExecutionException):
    """A step failed because of ``exception``."""

    def __init__(self, exception: Exception, message: str | None = None):
        if message is None:
            message = f"There was a failure while executing the step: {exception!r}"
        SagaFailedExecutionException.__init__(self, exception, message)


class SagaExecutionNotStorableException(SagaFailedExecutionStepException):
    """A step left a value its execution cannot be stored with (a tuple, an integer beyond 64 bits, a ``Decimal``, a
    lone surrogate, a NUL character...). Raised before any message of that step is published; nothing stored
    changes."""

    def __init__(self, exception: Exception, message: str | None = None):
        if message is None:
            message = f"The saga execution cannot be stored: {exception!r}"
        super().__init__(exception, message)


class SagaStepTimeoutException(SagaFailedExecutionStepException):
    """A remote step's reply did not arrive in time after every attempt its retry policy allows, or the saga's
    deadline passed while it waited. The step fails, and the saga compensates as for any failure."""

    def __init__(self, message: str):
        super().__init__(TimeoutError(message), message)


class SagaRollbackExecutionStepException(SagaStepExecutionException):
    """Raised when one step cannot be compensated (not executed yet, or already compensated)."""

    default_message = "The step execution could not be rolled back."


class SagaResponseStatusException(SagaResponseException):
    """A reply carries a status that is not 200, 400 or 500."""

    default_message = "The saga response status is not valid."


class SagaResponseMismatchException(SagaResponseException):
    """A reply answers another execution than the one it is applied to."""

    default_message = "The saga response belongs to another execution."


class SagaCallbackReturnTypeException(SagaStepExecutionException):
    """A user callback returned a value of the wrong type (e.g. a request callback not returning a request)."""

    default_message = "The callback returned a value of the wrong type."


class SagaCallbackException(SagaStepException):
    """A callback cannot be used: it is not callable, or it cannot be stored by import path (lambda, closure)."""

    default_message = "The callback is not valid."
