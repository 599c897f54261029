"""Test helpers for services and for third-party saga repositories."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any
from unittest import IsolatedAsyncioTestCase
from uuid import UUID, uuid4

from minos.common import DatabaseOperation, DeclarativeModel
from minos.common.testing import MinosTestCase, MockedDatabaseClient, MockedDatabaseOperation

from .context import SagaContext
from .definitions import Saga
from .exceptions import SagaExecutionNotFoundException
from .executions import (
    LocalSagaStepExecution,
    RemoteSagaStepExecution,
    SagaExecution,
    SagaExecutionDatabaseOperationFactory,
    SagaExecutionLister,
    SagaExecutionPurger,
    SagaExecutionRepository,
    SagaStatus,
    SagaStepStatus,
)
from .executions.repositories.listing import MAX_LIST_LIMIT
from .messages import SagaRequest


@contextmanager
def throwaway_database(server: dict[str, Any], prefix: str = "minos_saga") -> Iterator[dict[str, Any]]:
    """A new database on ``server`` (``host``, ``port``, ``user``, ``password``) for one test or run, named
    ``prefix`` plus a random suffix: yields the server settings plus its ``database`` name, as a ``saga`` database
    entry (or ``ParticipantBarrier``) takes them, and drops it on exit even while clients are still connected."""
    name = f"{prefix}_{uuid4().hex[:12]}"
    _administer(server, f"CREATE DATABASE {name}")
    try:
        yield {"database": name, **server}
    finally:
        # A connection of its own: the server may have been restarted meanwhile.
        _administer(server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _administer(server: dict[str, Any], statement: str) -> None:
    import psycopg2

    admin = psycopg2.connect(dbname="postgres", connect_timeout=3, **server)
    admin.autocommit = True  # CREATE and DROP DATABASE cannot run in a transaction
    try:
        with admin.cursor() as cursor:
            cursor.execute(statement)
    finally:
        admin.close()


class MockedSagaExecutionDatabaseOperationFactory(SagaExecutionDatabaseOperationFactory):
    """Operations for minos' ``MockedDatabaseClient``, which answers with whatever a test primes it with."""

    def build_store(self, uuid: UUID, **kwargs: Any) -> DatabaseOperation:
        """A mocked ``store`` operation (the mocked client answers what the test primes)."""
        return MockedDatabaseOperation("store")

    def build_load(self, uuid: UUID) -> DatabaseOperation:
        """A mocked ``load`` operation (the mocked client answers what the test primes)."""
        return MockedDatabaseOperation("load")

    def build_delete(self, uuid: UUID) -> DatabaseOperation:
        """A mocked ``delete`` operation (the mocked client answers what the test primes)."""
        return MockedDatabaseOperation("delete")


MockedDatabaseClient.set_factory(SagaExecutionDatabaseOperationFactory, MockedSagaExecutionDatabaseOperationFactory)


def add_order(context: SagaContext) -> SagaContext:
    """The local callback of the saga the repository test cases store (first step of the contracts' first one)."""
    context["order"] = "created"
    return context


def reserve_stock(context: SagaContext) -> SagaRequest:
    """A request callback of the first sample saga the contract test cases store."""
    return SagaRequest("ReserveStock", {"order": context["order"]})


class Foo(DeclarativeModel):
    """A one-field model for tests that need a model value, e.g. inside a context."""

    foo: str
    """A text value."""


class SagaExecutionRepositoryTestCase(MinosTestCase, ABC):
    """The scenarios of 0.7.0's repository test case, making the same repository calls in the same order (so a
    plugin that primes a mocked database client for them keeps passing). New scenarios live in
    :class:`SagaExecutionRepositoryContract`.

    Subclass it, set ``CONFIG_FILE_PATH`` and implement :meth:`build_saga_execution_repository`. ``execution`` is a
    finished execution and ``another`` a new one of the same saga, both built in :meth:`asyncSetUp`.
    """

    __test__ = False

    def setUp(self) -> None:
        """Build the repository under test."""
        super().setUp()
        self.saga_execution_repository = self.build_saga_execution_repository()

    @abstractmethod
    def build_saga_execution_repository(self) -> SagaExecutionRepository:
        """The repository under test."""

    async def asyncSetUp(self) -> None:
        """Set the repository up and prepare two executions of one saga (one already run)."""
        await super().asyncSetUp()
        await self.saga_execution_repository.setup()
        definition = Saga().local_step(add_order).commit()
        self.execution = SagaExecution.from_definition(definition)
        await self.execution.execute(autocommit=False)
        self.another = SagaExecution.from_definition(definition)

    async def asyncTearDown(self) -> None:
        """Destroy the repository."""
        await self.saga_execution_repository.destroy()
        await super().asyncTearDown()

    async def test_store(self) -> None:
        """A stored execution loads back equal."""
        await self.saga_execution_repository.store(self.execution)
        self.assertEqual(self.execution, await self.saga_execution_repository.load(self.execution.uuid))

    async def test_store_overwrite(self) -> None:
        """Storing another execution under the same uuid replaces the first."""
        await self.saga_execution_repository.store(self.execution)
        self.assertEqual(self.execution, await self.saga_execution_repository.load(self.execution.uuid))

        self.another.uuid = self.execution.uuid
        await self.saga_execution_repository.store(self.another)
        self.assertNotEqual(self.execution, await self.saga_execution_repository.load(self.execution.uuid))
        self.assertEqual(self.another, await self.saga_execution_repository.load(self.execution.uuid))

    async def test_load_from_str(self) -> None:
        """An execution loads by the string of its uuid too."""
        await self.saga_execution_repository.store(self.execution)
        self.assertEqual(self.execution, await self.saga_execution_repository.load(str(self.execution.uuid)))

    async def test_load_raises(self) -> None:
        """Loading an execution never stored raises ``SagaExecutionNotFoundException``."""
        with self.assertRaises(SagaExecutionNotFoundException):
            await self.saga_execution_repository.load(self.execution.uuid)

    async def test_delete(self) -> None:
        """A deleted execution (given itself) no longer loads."""
        await self.saga_execution_repository.store(self.execution)
        await self.saga_execution_repository.delete(self.execution)
        with self.assertRaises(SagaExecutionNotFoundException):
            await self.saga_execution_repository.load(self.execution.uuid)

    async def test_delete_from_str(self) -> None:
        """A deleted execution (given the string of its uuid) no longer loads."""
        await self.saga_execution_repository.store(self.execution)
        await self.saga_execution_repository.delete(str(self.execution.uuid))
        with self.assertRaises(SagaExecutionNotFoundException):
            await self.saga_execution_repository.load(self.execution.uuid)


def ship_order(context: SagaContext) -> SagaRequest:
    """The first step of the second sample saga the contract test cases store (another saga name)."""
    return SagaRequest("ShipOrder", {"order": context["order"]})


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

    async def test_lock_is_released_when_the_block_raises(self) -> None:
        """A lock whose block raises is released: the next holder gets it."""
        uuid = uuid4()
        with self.assertRaises(RuntimeError):
            async with self.repository.lock(uuid):
                raise RuntimeError("the work failed")
        async with self.repository.lock(uuid):
            pass

    async def _check_lock_serialises(
        self, first: SagaExecutionRepository, second: SagaExecutionRepository, *, new: bool = False
    ) -> None:
        uuid, events = uuid4(), []
        first_holds = asyncio.Event()

        async def hold(repository: SagaExecutionRepository, name: str) -> None:
            async with (repository.lock_new if new else repository.lock)(uuid):
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


class SagaExecutionListerContract(_RepositoryCase):
    """What every repository that implements :class:`SagaExecutionLister` and :class:`SagaExecutionPurger` must
    do: the same filters, order, keyset paging and argument rules. Adopt it like
    :class:`SagaExecutionRepositoryContract`."""

    async def asyncSetUp(self) -> None:
        """Store five executions (paused and created, some of one user) to list and purge."""
        await super().asyncSetUp()
        if not isinstance(self.repository, SagaExecutionLister):
            self.fail(f"{type(self.repository).__name__} does not implement SagaExecutionLister.")
        self.lister: SagaExecutionLister = self.repository
        self.user = uuid4()
        self.executions = [
            self.paused_execution(user=self.user),
            self.created_execution(),
            self.paused_execution(),
            self.created_execution(user=self.user),
            self.paused_execution(),
        ]
        for execution in self.executions:
            await self.repository.store(execution)

    async def listed(self, **filters: Any) -> list[UUID]:
        """The uuids ``list(**filters)`` returns, in its order."""
        return [summary.uuid for summary in await self.lister.list(**filters)]

    def uuids(self, predicate: Callable[[SagaExecution], bool]) -> set[UUID]:
        """The uuids of the stored executions that ``predicate`` accepts."""
        return {execution.uuid for execution in self.executions if predicate(execution)}

    async def test_lists_every_execution_in_keyset_order(self) -> None:
        """Without filters, every execution is listed, in keyset order."""
        summaries = await self.lister.list()
        self.assertEqual(self.uuids(lambda _: True), {summary.uuid for summary in summaries})
        self.assertEqual(len(self.executions), len(summaries))
        keys = [(summary.updated_at, summary.uuid) for summary in summaries]
        self.assertEqual(sorted(keys), keys)

    async def test_summaries_describe_the_executions(self) -> None:
        """Each summary carries the execution's status, user, step position, saga name and times."""
        summaries = {summary.uuid: summary for summary in await self.lister.list()}
        paused, created = summaries[self.executions[0].uuid], summaries[self.executions[1].uuid]
        self.assertEqual((SagaStatus.Paused, self.user, 1, 2), (paused.status, paused.user, paused.step, paused.steps))
        self.assertEqual((SagaStatus.Created, None, 0, 1), (created.status, created.user, created.step, created.steps))
        self.assertEqual(f"{add_order.__module__}.add_order", paused.saga)
        self.assertEqual(f"{ship_order.__module__}.ship_order", created.saga)
        self.assertIsNotNone(paused.updated_at.tzinfo)
        self.assertTrue(paused.created_at is None or paused.created_at <= paused.updated_at)

    async def test_filters_by_status_user_and_saga(self) -> None:
        """Filters by status, user, saga name (whole dotted parts) and uuid select exactly the matching executions."""
        paused = self.uuids(lambda execution: execution.status == SagaStatus.Paused)
        self.assertEqual(paused, set(await self.listed(status=SagaStatus.Paused)))
        self.assertEqual(paused, set(await self.listed(status="paused")))
        self.assertEqual([], await self.listed(status=SagaStatus.Finished))
        self.assertEqual(
            self.uuids(lambda execution: execution.user == self.user), set(await self.listed(user=self.user))
        )
        self.assertEqual([self.executions[0].uuid], await self.listed(user=str(self.user), status="paused"))
        shipping = self.uuids(lambda execution: execution.status == SagaStatus.Created)
        self.assertEqual(shipping, set(await self.listed(saga="ship_order")))
        self.assertEqual(shipping, set(await self.listed(saga=f"{ship_order.__module__}.ship_order")))
        self.assertEqual([], await self.listed(saga="order"))  # a name matches whole dotted parts only
        self.assertEqual([self.executions[3].uuid], await self.listed(uuid=str(self.executions[3].uuid)))
        self.assertEqual([], await self.listed(uuid=self.executions[3].uuid, status="paused"))

    async def test_filters_by_age(self) -> None:
        """``updated_before``/``updated_after`` select the executions last stored before or after a time."""
        summaries = await self.lister.list()
        middle = summaries[2].updated_at
        before = [summary.uuid for summary in summaries if summary.updated_at < middle]
        after = [summary.uuid for summary in summaries if summary.updated_at > middle]
        self.assertEqual(before, await self.listed(updated_before=middle))
        self.assertEqual(after, await self.listed(updated_after=middle))
        self.assertEqual(
            [summary.uuid for summary in summaries if summary.updated_at >= middle],
            await self.listed(updated_after=middle - timedelta(microseconds=1)),
        )

    async def test_keyset_pages_cover_everything_once_even_when_rows_go_away(self) -> None:
        """Paging with a keyset lists every execution once, even when some are deleted between pages."""
        everything = await self.listed()
        first = await self.lister.list(limit=2)
        await self.repository.delete(first[0].uuid)  # an offset would now skip a row; a cursor does not
        pages, after = [[summary.uuid for summary in first]], first[-1].cursor
        while page := await self.lister.list(limit=2, after=after):
            pages.append([summary.uuid for summary in page])
            after = page[-1].cursor
        self.assertEqual(everything, [uuid for page in pages for uuid in page])
        self.assertEqual(everything[2:], await self.listed(after=str(first[-1].cursor)))

    async def test_restored_execution_moves_to_the_end(self) -> None:
        """An execution stored again moves to the end of the listing."""
        execution = self.executions[0]
        execution.status = SagaStatus.Errored
        await self.repository.store(execution)
        listed = await self.lister.list()
        self.assertEqual(execution.uuid, listed[-1].uuid)
        self.assertEqual(SagaStatus.Errored, listed[-1].status)

    async def test_wrong_arguments_raise_the_same_errors_everywhere(self) -> None:
        """Wrong arguments raise the same exceptions in every implementation."""
        wrong: list[tuple[type[Exception], dict[str, Any]]] = [
            (TypeError, {"status": 3}),
            (ValueError, {"status": "stuck"}),
            (TypeError, {"user": 42}),
            (ValueError, {"uuid": "order-1"}),
            (ValueError, {"user": "nobody"}),
            (TypeError, {"saga": b"order"}),
            (ValueError, {"saga": " "}),
            (TypeError, {"updated_before": "yesterday"}),
            (ValueError, {"updated_before": datetime(2020, 1, 1)}),
            (ValueError, {"updated_after": datetime(2020, 1, 1)}),
            (TypeError, {"after": 10}),
            (ValueError, {"after": "page-2"}),
            (TypeError, {"limit": "10"}),
            (TypeError, {"limit": True}),
            (TypeError, {"limit": 2.0}),
            (ValueError, {"limit": 0}),
            (ValueError, {"limit": -1}),
            (ValueError, {"limit": MAX_LIST_LIMIT + 1}),
            (TypeError, {"offset": 10}),
        ]
        for error, arguments in wrong:
            with self.subTest(**{key: repr(value) for key, value in arguments.items()}), self.assertRaises(error):
                await self.lister.list(**arguments)
        with self.assertRaises(TypeError):
            await self.lister.list(SagaStatus.Paused)  # type: ignore[misc]
        self.assertEqual(len(self.executions), len(await self.lister.list(limit=MAX_LIST_LIMIT)))

    async def test_purge_deletes_one_status_older_than_a_time(self) -> None:
        """Purging deletes the executions of one status older than a time, and only those."""
        if not isinstance(self.repository, SagaExecutionPurger):
            self.fail(f"{type(self.repository).__name__} does not implement SagaExecutionPurger.")
        summaries = await self.lister.list()
        bound = summaries[3].updated_at
        expired = [s.uuid for s in summaries if s.status == SagaStatus.Paused and s.updated_at < bound]
        self.assertEqual(len(expired), await self.repository.purge(status=SagaStatus.Paused, updated_before=bound))
        self.assertEqual([s.uuid for s in summaries if s.uuid not in expired], await self.listed())
        with self.assertRaises(TypeError):
            await self.repository.purge(status=None, updated_before=bound)  # type: ignore[arg-type]
        with self.assertRaises(ValueError):
            await self.repository.purge(status=SagaStatus.Paused, updated_before=datetime(2020, 1, 1))
