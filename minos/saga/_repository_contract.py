"""The contract every saga execution repository must meet (``SagaExecutionRepositoryContract``), and the base of
the contract test cases: sample executions of the sample sagas of ``minos.saga.testing``."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from typing import AsyncContextManager
from unittest import IsolatedAsyncioTestCase
from uuid import UUID, uuid4

from .context import SagaContext
from .definitions import Saga
from .exceptions import SagaExecutionNotFoundException
from .executions import (
    LocalSagaStepExecution,
    RemoteSagaStepExecution,
    SagaExecution,
    SagaExecutionRepository,
    SagaStatus,
    SagaStepStatus,
)


class _RepositoryCase(IsolatedAsyncioTestCase, ABC):
    __test__ = False

    SHARED_STORAGE = False
    """Set to ``True`` when two repositories built by :meth:`build_repository` see the same executions (a database):
    the cases then also check that one sees what the other stored and that the lock holds across them."""

    @abstractmethod
    def build_repository(self) -> SagaExecutionRepository:
        """A new repository under test, not set up yet."""

    async def asyncSetUp(self) -> None:
        await super().asyncSetUp()
        self.repository = await self.open_repository()

    async def open_repository(self) -> SagaExecutionRepository:
        """A repository built by :meth:`build_repository`, set up and destroyed at the end of the test."""
        repository = self.build_repository()
        await repository.setup()
        self.addAsyncCleanup(repository.destroy)
        return repository

    @staticmethod
    def paused_execution(user: UUID | None = None) -> SagaExecution:
        """An execution of the first sample saga, paused on its remote step."""
        # Imported here: minos.saga.testing defines the sample callbacks and imports this module.
        from .testing import add_order, reserve_stock

        definition = Saga().local_step(add_order).remote_step(reserve_stock).commit()
        return SagaExecution(
            definition,
            uuid4(),
            SagaContext(order="created", amount=3.5),
            status=SagaStatus.Paused,
            steps=[LocalSagaStepExecution(definition.steps[0], {"order"}, SagaStepStatus.Finished)],
            paused_step=RemoteSagaStepExecution(
                definition.steps[1], {"order"}, SagaStepStatus.PausedByOnExecute, request_id=uuid4()
            ),
            user=user,
        )

    @staticmethod
    def created_execution(user: UUID | None = None) -> SagaExecution:
        """An execution of the second sample saga, not started."""
        # Imported here: minos.saga.testing defines the sample callbacks and imports this module.
        from .testing import ship_order

        return SagaExecution.from_definition(Saga().remote_step(ship_order).commit(), SagaContext(order="x"), user=user)


class SagaExecutionRepositoryContract(_RepositoryCase):
    """What every ``SagaExecutionRepository`` must do: store, load and delete executions, and serialise the holders
    of an execution's lock. Adopt it in a few lines::

        class TestMyRepository(SagaExecutionRepositoryContract):
            __test__ = True

            def build_repository(self):
                return MyRepository(...)
    """

    async def test_load_returns_what_was_stored(self) -> None:
        """A stored execution loads back equal, by uuid and by its string."""
        execution = self.paused_execution(user=uuid4())
        await self.repository.store(execution)
        self.assertEqual(execution, await self.repository.load(execution.uuid))
        self.assertEqual(execution, await self.repository.load(str(execution.uuid)))

    async def test_store_overwrites(self) -> None:
        """Storing an execution again replaces what was stored."""
        execution = self.paused_execution()
        await self.repository.store(execution)
        execution.status = SagaStatus.Errored
        execution.context["order"] = "cancelled"
        await self.repository.store(execution)
        self.assertEqual(execution, await self.repository.load(execution.uuid))

    async def test_load_unknown_raises_not_found(self) -> None:
        """Loading an unknown uuid, or a string that is not one, raises ``SagaExecutionNotFoundException``."""
        with self.assertRaises(SagaExecutionNotFoundException):
            await self.repository.load(uuid4())
        with self.assertRaises(SagaExecutionNotFoundException):
            await self.repository.load("not-a-uuid")

    async def test_delete_removes_only_that_execution(self) -> None:
        """Deleting one execution leaves the others loadable."""
        execution, another = self.paused_execution(), self.created_execution()
        await self.repository.store(execution)
        await self.repository.store(another)
        await self.repository.delete(execution)
        with self.assertRaises(SagaExecutionNotFoundException):
            await self.repository.load(execution.uuid)
        self.assertEqual(another, await self.repository.load(another.uuid))
        await self.repository.delete(str(another.uuid))
        with self.assertRaises(SagaExecutionNotFoundException):
            await self.repository.load(another.uuid)

    async def test_delete_unknown_is_silent(self) -> None:
        """Deleting an unknown execution raises nothing and leaves the stored ones in place."""
        execution = self.paused_execution()
        await self.repository.store(execution)
        await self.repository.delete(uuid4())
        self.assertEqual(execution, await self.repository.load(execution.uuid))

    async def test_lock_serialises_two_holders(self) -> None:
        """Two holders of one execution's lock never hold it at once."""
        await self._check_lock_serialises(self.repository, self.repository)

    async def test_lock_serialises_holders_on_two_repositories(self) -> None:
        """The lock also holds between two repositories on the same storage (two replicas)."""
        if not self.SHARED_STORAGE:
            self.skipTest("each repository has its own storage")
        await self._check_lock_serialises(self.repository, await self.open_repository())

    async def test_shared_storage_sees_the_other_repository_stores(self) -> None:
        """What one repository stores, another on the same storage loads."""
        if not self.SHARED_STORAGE:
            self.skipTest("each repository has its own storage")
        execution = self.paused_execution()
        await self.repository.store(execution)
        self.assertEqual(execution, await (await self.open_repository()).load(execution.uuid))

    async def test_store_at_unlock_is_stored_when_the_lock_is_released(self) -> None:
        """A store kept for the unlock is seen by loads under the lock and, once it is released, by everyone; without
        a lock it is stored at once."""
        execution, other = self.paused_execution(), self.paused_execution()
        async with self.repository.lock(execution.uuid):
            await self.repository.store_at_unlock(execution)
            self.assertEqual(execution, await self.repository.load(execution.uuid))
            execution.context["amount"] = 7
            await self.repository.store_at_unlock(execution)
        reader = await self.open_repository() if self.SHARED_STORAGE else self.repository
        self.assertEqual(7, (await reader.load(execution.uuid)).context["amount"])
        await self.repository.store_at_unlock(other)
        self.assertEqual(other, await reader.load(other.uuid))

    async def test_delete_at_unlock_is_deleted_when_the_lock_is_released(self) -> None:
        """A delete kept for the unlock is seen by loads under the lock and, once it is released, by everyone;
        without a lock it deletes at once."""
        execution, other = self.paused_execution(), self.paused_execution()
        for stored in (execution, other):
            await self.repository.store(stored)
        async with self.repository.lock(execution.uuid):
            await self.repository.load(execution.uuid)
            await self.repository.delete_at_unlock(execution)
            with self.assertRaises(SagaExecutionNotFoundException):
                await self.repository.load(execution.uuid)
        reader = await self.open_repository() if self.SHARED_STORAGE else self.repository
        with self.assertRaises(SagaExecutionNotFoundException):
            await reader.load(execution.uuid)
        await self.repository.delete_at_unlock(other)
        with self.assertRaises(SagaExecutionNotFoundException):
            await reader.load(other.uuid)

    async def test_lock_new_keeps_what_its_block_stores(self) -> None:
        """The lock of a new execution serialises like :meth:`lock` and keeps what its block stored."""
        execution = self.paused_execution()
        async with self.repository.lock_new(execution.uuid):
            await self.repository.store(execution)
            execution.context["amount"] = 7
            await self.repository.store_at_unlock(execution)
        self.assertEqual(execution, await self.repository.load(execution.uuid))
        await self._check_lock_serialises(self.repository, self.repository, new=True)

    async def test_lock_for_reply_loads_what_is_stored_and_keeps_what_its_block_stores(self) -> None:
        """The lock for a reply serialises like :meth:`lock`; its block loads the stored execution whether the reply
        is to the awaited request or to another one (ignored, see ``lock_for_reply``), and keeps what it stores."""
        execution = self.paused_execution()
        await self.repository.store(execution)
        for request in (execution.awaited_request, uuid4(), None):
            async with self.repository.lock_for_reply(execution.uuid, request):
                self.assertEqual(execution, await self.repository.load(execution.uuid))
        async with self.repository.lock_for_reply(execution.uuid, uuid4()):
            loaded = await self.repository.load(execution.uuid)
            loaded.context["amount"] = 7
            await self.repository.store(loaded)
        self.assertEqual(7, (await self.repository.load(execution.uuid)).context["amount"])
        await self._check_lock_serialises(self.repository, self.repository, reply=True)

    async def test_lock_is_released_when_the_block_raises(self) -> None:
        """A lock whose block raises is released: the next holder gets it."""
        uuid = uuid4()
        with self.assertRaises(RuntimeError):
            async with self.repository.lock(uuid):
                raise RuntimeError("the work failed")
        async with self.repository.lock(uuid):
            pass

    async def _check_lock_serialises(
        self,
        first: SagaExecutionRepository,
        second: SagaExecutionRepository,
        *,
        new: bool = False,
        reply: bool = False,
    ) -> None:
        """Two holders never hold the lock at once: taken with :meth:`lock`, ``lock_new``, or ``lock_for_reply`` (a
        reply without a request identifier, which any paused step may apply)."""
        uuid, events = uuid4(), []
        first_holds = asyncio.Event()

        def take(repository: SagaExecutionRepository) -> AsyncContextManager[None]:
            if reply:
                return repository.lock_for_reply(uuid, None)
            return repository.lock_new(uuid) if new else repository.lock(uuid)

        async def hold(repository: SagaExecutionRepository, name: str) -> None:
            async with take(repository):
                events.append(f"{name} in")
                first_holds.set()
                # Real work under the lock (a store and a load): the other holder's attempt runs meanwhile.
                execution = self.paused_execution()
                for _ in range(3):
                    await repository.store(execution)
                    await repository.load(execution.uuid)
                await repository.delete(execution.uuid)
                for _ in range(10):  # and a few turns of the event loop, for repositories that never wait on I/O
                    await asyncio.sleep(0)
                events.append(f"{name} out")

        for repository in (first, second):  # warm up: a first lock may open connections, which hides a race
            async with repository.lock(uuid4()):
                pass
        holder = asyncio.ensure_future(hold(first, "first"))
        await first_holds.wait()
        await asyncio.gather(holder, hold(second, "second"))
        self.assertEqual(["first in", "first out", "second in", "second out"], events)
