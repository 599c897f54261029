"""Runs user callbacks of an execution, inside its transaction scope."""

from __future__ import annotations

from collections.abc import Callable
from inspect import isawaitable
from typing import Any
from uuid import UUID

from ...definitions import SagaOperation
from ...transactions import transaction_scope


class Executor:
    """Calls operations as ``callback(*args, **parameters)``, awaiting async callbacks."""

    def __init__(self, execution_uuid: UUID | None, *args, **kwargs):
        self.execution_uuid = execution_uuid

    async def exec(self, operation: SagaOperation, *args, **kwargs) -> Any:
        if operation.parameters is not None:
            kwargs = {**operation.parameters.copy(), **kwargs}
        return await self.exec_function(operation.callback, *args, **kwargs)

    async def exec_function(self, func: Callable, *args, **kwargs) -> Any:
        async with transaction_scope(self.execution_uuid):
            result = func(*args, **kwargs)
            if isawaitable(result):
                result = await result
        return result
