"""The shapes of user callbacks. Any of them may be sync or async."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Optional, Union

from ..context import SagaContext
from ..messages import SagaRequest, SagaResponse

LocalCallback = Callable[..., Union[Optional[SagaContext], Awaitable[Optional[SagaContext]]]]
"""A local step's callback: takes the context (and the operation's parameters), returns the new context or ``None``
(keep it), or an awaitable of either."""
RequestCallBack = Callable[..., Union[SagaRequest, Awaitable[SagaRequest]]]
"""A remote step's ``on_execute`` or ``on_failure``: takes the context, returns the ``SagaRequest`` to send (or an
awaitable of it)."""
ResponseCallBack = Callable[..., Union[Exception, SagaContext, Awaitable[Union[Exception, SagaContext]]]]
"""A remote step's ``on_success`` or ``on_error``: takes the context and the reply, returns the new context, or an
exception to fail the step."""
ConditionCallback = Callable[..., Union[bool, Awaitable[bool]]]
"""A conditional step's condition: takes the context, returns whether the branch runs (or an awaitable of it)."""

# The message and context classes are importable from here too, as they were in 0.7.0.
__all__ = [
    "ConditionCallback",
    "LocalCallback",
    "RequestCallBack",
    "ResponseCallBack",
    "SagaContext",
    "SagaRequest",
    "SagaResponse",
]
