"""The contract every repository that lists and purges executions must meet (``SagaExecutionListerContract``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from ._repository_contract import _RepositoryCase
from .executions import SagaExecution, SagaExecutionLister, SagaExecutionPurger, SagaStatus
from .executions.repositories.listing import MAX_LIST_LIMIT


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
        # Imported here: minos.saga.testing defines the sample callbacks and imports this module.
        from .testing import add_order, ship_order

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
        # Imported here: minos.saga.testing defines the sample callbacks and imports this module.
        from .testing import ship_order

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

    async def test_filters_by_stalled_compensations(self) -> None:
        """``compensations_stalled`` selects the executions whose compensations ran out of attempts (``True``), the
        others (``False``), or both (``None``); summaries say which."""
        stalled = self.executions[1]
        stalled.status, stalled.compensations_stalled = SagaStatus.Errored, True
        await self.repository.store(stalled)
        others = self.uuids(lambda execution: execution is not stalled)
        self.assertEqual([stalled.uuid], await self.listed(compensations_stalled=True))
        self.assertEqual(others, set(await self.listed(compensations_stalled=False)))
        self.assertEqual(others | {stalled.uuid}, set(await self.listed(compensations_stalled=None)))
        self.assertEqual([stalled.uuid], await self.listed(compensations_stalled=True, status="errored"))
        self.assertEqual([], await self.listed(compensations_stalled=True, status="paused"))
        summaries = {summary.uuid: summary.compensations_stalled for summary in await self.lister.list()}
        self.assertEqual({uuid: uuid == stalled.uuid for uuid in others | {stalled.uuid}}, summaries)

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
            (TypeError, {"compensations_stalled": "yes"}),
            (TypeError, {"compensations_stalled": 1}),
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
