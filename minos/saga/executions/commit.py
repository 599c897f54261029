"""The two-phase commit that closes a finished saga across every service it touched."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, Optional
from uuid import UUID

from minos.common import Inject, NotProvidedException, PoolFactory
from minos.networks import BrokerClientPool, BrokerMessageV1, BrokerPublisher

from .._broker_pool import resolve_broker_pool
from .._minos_internals import publish
from .._random_uuids import uuid4
from ..exceptions import SagaFailedCommitCallbackException
from ..transactions import transaction_topic
from ._broker_messages import build_message, saga_reply_topic
from ._options import RunOptions
from .steps import ConditionalSagaStepExecution, SagaStepExecution

logger = logging.getLogger(__name__)


class TransactionCommitter:
    """Reserves the saga's transaction on each ``(uuid, service)`` pair, then commits them all, or rejects them all
    when any reservation is refused."""

    @Inject()
    def __init__(
        self,
        execution_uuid: UUID,
        executed_steps: list[SagaStepExecution],
        broker_publisher: BrokerPublisher,
        # ``Optional``, not ``X | None``: minos' ``Inject`` only resolves ``typing.Union`` annotations.
        broker_pool: Optional[BrokerClientPool] = None,  # noqa: UP045
        pool_factory: Optional[PoolFactory] = None,  # noqa: UP045
        **kwargs: Any,
    ):
        broker_pool = resolve_broker_pool(broker_pool, pool_factory)
        if broker_pool is None:
            raise NotProvidedException(f"A {BrokerClientPool!r} instance is required to commit saga transactions.")
        self.execution_uuid = execution_uuid
        """The uuid of the execution whose transactions it commits or rejects."""
        self.executed_steps = executed_steps
        """The execution's steps: their related services are the participants to ask."""
        self.broker_publisher = broker_publisher
        """Publishes the reservation, commit and reject messages."""
        self.broker_pool = broker_pool
        """Provides the broker client that waits for the reservation replies."""
        self.options: RunOptions = kwargs.get("options") or RunOptions(execution_uuid=execution_uuid)
        """The run's options (uuid, user, publisher, pools) the commit works with."""

    @classmethod
    def of_run(
        cls, execution_uuid: UUID, executed_steps: list[SagaStepExecution], options: RunOptions
    ) -> TransactionCommitter:
        """The committer of a run of the ``execution_uuid`` execution: with the run's publisher and the pools its
        caller gave, the injected ones for the others."""
        pools = {"broker_pool": options.broker_pool, "pool_factory": options.pool_factory}
        given = {name: pool for name, pool in pools.items() if pool is not None}  # the injection resolves the rest
        return cls(execution_uuid, executed_steps, broker_publisher=options.publisher, options=options, **given)

    @property
    def transactions(self) -> list[tuple[UUID, str]]:
        """Sorted unique ``(uuid, service)`` pairs; conditional steps contribute those of their inner saga."""
        pairs: set[tuple[UUID, str]] = set()
        pending = [(self.execution_uuid, self.executed_steps)]
        while pending:
            uuid, steps = pending.pop()
            for step in steps:
                if isinstance(step, ConditionalSagaStepExecution):
                    if step.inner is not None:
                        pending.append((step.inner.uuid, step.inner.executed_steps))
                else:
                    pairs.update((uuid, service) for service in step.related_services)
        return sorted(pairs)

    async def commit(self, **kwargs: Any) -> None:
        """Reserve on every participant, waiting for the answers on a broker client, and commit; if any refuses,
        reject everywhere and raise ``ValueError``."""
        transactions = self.transactions
        if not transactions:
            return
        async with self.broker_pool.acquire() as broker:
            for uuid, service in transactions:
                await broker.send(_message("Reserve", uuid, service))
            replies = [message async for message in broker.receive_many(len(transactions), **kwargs)]
        await self.conclude(reply.ok for reply in replies)

    async def reserve(self) -> list[UUID]:
        """Publish the reservations without waiting for them: each carries the ``saga`` header and its own message
        identifier (which minos' dispatcher gives the answer), and is answered on the saga reply topic like a remote
        step's request, so the answers resume the stored execution instead of holding a broker handler task.
        Returns the identifiers."""
        request_ids = []
        for uuid, service in self.transactions:
            request_id = uuid4()
            headers = {"saga": str(self.execution_uuid)}
            reply_topic = saga_reply_topic(self.options.dependencies.service_name)
            message = _message("Reserve", uuid, service, headers, reply_topic, request_id)
            await publish(self.broker_publisher, message)
            request_ids.append(request_id)
        return request_ids

    async def conclude(self, answers: Iterable[bool]) -> None:
        """Commit everywhere when every reservation was accepted; otherwise reject everywhere and raise
        ``ValueError``."""
        if not all(answers):
            await self.reject()
            raise ValueError(f"Some participants refused to reserve the {self.execution_uuid} transaction.")
        for uuid, service in self.transactions:
            await publish(self.broker_publisher, _message("Commit", uuid, service))

    async def reject(self) -> None:
        """Ask every participant to discard the saga's transaction; when some messages cannot be sent, the others
        still are and ``SagaFailedCommitCallbackException`` is raised."""
        failures = []
        for uuid, service in self.transactions:
            try:
                await publish(self.broker_publisher, _message("Reject", uuid, service))
            except Exception as exc:
                failures.append(exc)
        if failures:
            raise SagaFailedCommitCallbackException(failures[0])


def _message(action: str, uuid: UUID, service: str, *args: Any, **kwargs: Any) -> BrokerMessageV1:
    return build_message(transaction_topic(action, service), uuid, *args, **kwargs)
