"""The order service of the demo: a SagaManager over the saga storage, and SagaService answering its replies."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from minos.common import DependencyInjector

from minos.saga import (
    SagaContext,
    SagaExecutionNotFoundException,
    SagaExecutionRepository,
    SagaManager,
    SagaService,
    SagaStatus,
)
from minos.saga.clock import OffsetClock

from .bus import Bus, MinosService
from .sagas import CREATE_ORDER
from .services import OrderLedger, TransactionService

TIMEOUT = 5.0
_T = TypeVar("_T")


async def poll(probe: Callable[[], Awaitable[_T | None]], what: str) -> _T:
    """Run ``probe`` every 10 ms until it returns something other than ``None``; fail after TIMEOUT seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while (found := await probe()) is None:
        if loop.time() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
    return found


class Orchestrator:
    """The order service: a SagaManager over a repository, and SagaService answering ``orderReply``."""

    def __init__(self, storage: SagaExecutionRepository, bus: Bus, config, injector: DependencyInjector):
        self.storage = storage
        self.clock = OffsetClock()  # the demo moves it past a timeout instead of waiting
        # Finished sagas stay listed for a day (history), instead of being deleted as 0.7.0 does.
        self.manager = SagaManager(
            storage=storage,
            broker_pool=injector.pool_factory.get_pool("broker"),
            keep_finished_for=timedelta(days=1),
            clock=self.clock,
        )
        self.service = MinosService(
            "order", [SagaService(saga_manager=self.manager), TransactionService(OrderLedger())], bus, config
        )

    async def start(self) -> None:
        await self.manager.setup()
        await self.service.start()

    async def stop(self) -> None:
        await self.service.stop()
        await self.manager.destroy()

    async def place(self, order_id: int, customer: str, tier: str, item: str, quantity: int, amount: int):
        context = SagaContext(order_id=order_id, customer=customer, tier=tier, item=item, quantity=quantity)
        context["amount"] = amount
        print(f"    order #{order_id}: {customer} ({tier}) buys {quantity} × {item} for {amount} €")
        # Runs until the first remote step, stores the paused execution and returns; SagaService resumes it.
        return await self.manager.run(CREATE_ORDER, context, pause_on_disk=True, autocommit=True)

    async def settled(self, execution_uuid) -> SagaStatus:
        """Wait until the execution finished or errored; return which."""

        async def status() -> SagaStatus | None:
            try:
                execution = await self.storage.load(execution_uuid)
            except SagaExecutionNotFoundException:
                return SagaStatus.Finished
            return execution.status if execution.status in (SagaStatus.Finished, SagaStatus.Errored) else None

        obtained = await poll(status, f"the {execution_uuid} saga to settle")
        await asyncio.sleep(0.05)  # let the last commit/reject/compensation messages be handled
        return obtained

    async def paused_on(self, execution_uuid, callback: str) -> None:
        """Wait until the execution sent the request of the step whose callback is named ``callback``."""

        async def paused() -> bool | None:
            step = (await self.storage.load(execution_uuid)).paused_step
            if step is not None and step.definition.on_execute_operation.callback.__name__ == callback:
                return True
            return None

        await poll(paused, f"the {execution_uuid} saga to send {callback}")
