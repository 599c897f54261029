"""A repository over minos' database clients: any client with a registered factory can store sagas."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from minos.common import DatabaseMixin, ProgrammingException

from ....exceptions import SagaExecutionNotFoundException
from ...saga import SagaExecution
from ..abc import SagaExecutionRepository
from .factories import SagaExecutionDatabaseOperationFactory


class DatabaseSagaExecutionRepository(SagaExecutionRepository, DatabaseMixin[SagaExecutionDatabaseOperationFactory]):
    """Executes the operations of the client's ``SagaExecutionDatabaseOperationFactory`` on the ``saga`` database
    (or the default one).

    What it cannot do: 0.7.0's factory interface has only store, load and delete, so this repository does not
    implement :class:`SagaExecutionLister` or :class:`SagaExecutionPurger` (no listing, no ``minos-saga list``, no
    history retention), and its :meth:`lock` only serialises work inside one process. Use
    ``PostgreSqlSagaExecutionRepository`` for those.
    """

    def __init__(self, *args: Any, database_key: tuple[str] | None = None, **kwargs: Any):
        if database_key is None:
            database_key = ("saga",)
        super().__init__(*args, database_key=database_key, **kwargs)

    async def _store(self, execution: SagaExecution) -> None:
        await self.execute_on_database(self.database_operation_factory.build_store(**execution.raw))

    async def _load(self, uuid: UUID) -> SagaExecution:
        operation = self.database_operation_factory.build_load(uuid)
        try:
            raw = await self.execute_on_database_and_fetch_one(operation)
        except ProgrammingException:
            raise SagaExecutionNotFoundException(f"The {uuid} saga execution does not exist.") from None
        return SagaExecution.from_raw(raw)

    async def _delete(self, uuid: UUID) -> None:
        await self.execute_on_database(self.database_operation_factory.build_delete(uuid))
