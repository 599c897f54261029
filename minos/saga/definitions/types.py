"""The shapes of user callbacks. Any of them may be sync or async."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Optional, Union

if TYPE_CHECKING:
    from ..context import SagaContext
    from ..messages import SagaRequest

LocalCallback = Callable[..., Union[Optional["SagaContext"], Awaitable[Optional["SagaContext"]]]]
RequestCallBack = Callable[..., Union["SagaRequest", Awaitable["SagaRequest"]]]
ResponseCallBack = Callable[..., Union[Exception, "SagaContext", Awaitable[Union[Exception, "SagaContext"]]]]
ConditionCallback = Callable[..., Union[bool, Awaitable[bool]]]
