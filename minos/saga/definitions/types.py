"""The shapes of user callbacks. Any of them may be sync or async."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Optional, Union

from ..context import SagaContext
from ..messages import SagaRequest, SagaResponse

LocalCallback = Callable[..., Union[Optional[SagaContext], Awaitable[Optional[SagaContext]]]]
RequestCallBack = Callable[..., Union[SagaRequest, Awaitable[SagaRequest]]]
ResponseCallBack = Callable[..., Union[Exception, SagaContext, Awaitable[Union[Exception, SagaContext]]]]
ConditionCallback = Callable[..., Union[bool, Awaitable[bool]]]

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
