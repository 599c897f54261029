"""Idempotent saga participants: each request handled once, even when the broker delivers it again.

Sagas reach their participants at least once: a broker may deliver a message twice and the orchestrator re-sends a
request it is not sure went out (with the same identifier). A compensation may also overtake its action. Decorate
the participant's handlers with :func:`idempotent` and a :class:`ParticipantBarrier` (a table in the participant's
own PostgreSQL database, after DTM's "barrier") makes every request take effect once:

* a duplicate (same ``saga`` header, same message identifier) is answered with the recorded reply, without running
  the handler again;
* a compensation that arrives before its action is acknowledged without running ("null compensation") and the
  action, when it comes, is refused ("hanging request");
* the record is written in the transaction the handler works in (:func:`participant_cursor`), so the work and the
  record commit together, or neither does and a redelivery runs the handler again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from functools import wraps
from inspect import isawaitable
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from minos.common import Config, ConnectionException, Inject, NotProvidedException, SetupMixin
from minos.networks import (
    HandlerWrapper,
    Request,
    Response,
    ResponseException,
)

from ._injectable import injectable
from ._participant_barrier import PENDING, BarrierQueries, BarrierRows, Kind
from ._participant_replies import (
    HangingRequestException,
    ParticipantConflictException,
    ParticipantOutcome,
    ParticipantRecord,
    ParticipantReply,
    ParticipantRequestException,
    _answer,
    _identity,
    _reply,
)
from ._postgresql import PostgreSqlClient, close_pool

if TYPE_CHECKING:
    import aiopg

_CURSOR: ContextVar[aiopg.Cursor | None] = ContextVar("minos.saga.participant_cursor", default=None)
_SAVEPOINT = "minos_saga_participant"

# The records and refusals are defined in ``_participant_replies`` and public here.
__all__ = [
    "HangingRequestException",
    "ParticipantBarrier",
    "ParticipantConflictException",
    "ParticipantOutcome",
    "ParticipantRecord",
    "ParticipantReply",
    "ParticipantRequestException",
    "idempotent",
    "participant_cursor",
]

_HandlerT = TypeVar("_HandlerT", bound=Callable[..., Any])


def participant_cursor() -> aiopg.Cursor:
    """The cursor of the transaction the current :func:`idempotent` handler runs in.

    Do the participant's own work through it: it commits together with the record of the request, or rolls back
    with it. It lives in the barrier's database; do not ``COMMIT`` or ``ROLLBACK`` on it.
    """
    cursor = _CURSOR.get()
    if cursor is None:
        raise RuntimeError("participant_cursor() is only available inside a handler decorated with @idempotent.")
    return cursor


@injectable("participant_barrier")
class ParticipantBarrier(BarrierRows, PostgreSqlClient, SetupMixin):
    """Records the requests a participant handled, in a table of its own PostgreSQL database (``aiopg`` pool).

    One row per saga, operation name and half (action or compensation), keyed by the primary key
    ``(saga, operation, kind)``: a second delivery waits on the first one's uncommitted row, then reads its reply.
    The table is created on setup (``CREATE TABLE IF NOT EXISTS`` under an advisory lock, so replicas starting
    together do not race).

    Built from the service's config by minos' injector: list ``minos.saga.ParticipantBarrier`` under
    ``injections`` and it connects to the ``participant`` database entry, or to ``default`` without one::

        databases:
          default:
            database: stock_db
            host: localhost
            port: 5432
            user: minos
            password: min0s

    ``connect_timeout`` (seconds) bounds each connection attempt; other keyword arguments go to
    ``aiopg.create_pool`` (``minsize``, ``maxsize``, ``timeout``...).
    """

    def __init__(
        self,
        database: str,
        host: str = "localhost",
        port: int = 5432,
        user: str = "postgres",
        password: str = "",
        *,
        table_name: str = "saga_participant_barrier",
        connect_timeout: float = 5,
        **pool_options: Any,
    ):
        super().__init__(database, host, port, user, password, table_name=table_name, connect_timeout=connect_timeout)
        self.pool_options = {"minsize": 1, "maxsize": 10, "timeout": 60.0} | pool_options
        """Options of the ``aiopg`` pool (``minsize``, ``maxsize``, ``timeout``...)."""
        self._queries = BarrierQueries(table_name)
        self._pool: aiopg.Pool | None = None

    @classmethod
    def _from_config(cls, config: Config, **kwargs: Any) -> ParticipantBarrier:
        # ``kwargs`` are the injector's other injections: none of them configures the barrier.
        databases = config.get_databases()
        entry = databases.get("participant") or databases.get("default")
        if not entry or "database" not in entry:
            raise ValueError("ParticipantBarrier needs a 'participant' or 'default' database entry with a 'database'.")
        keys = ("database", "host", "port", "user", "password")
        return cls(**{key: entry[key] for key in keys if key in entry})

    async def _setup(self) -> None:
        await super()._setup()
        self._pool = await self._create_pool(self._dsn(), **self.pool_options)
        with self._faults():
            async with self._pool.acquire() as connection, connection.cursor() as cursor:
                await cursor.execute(self._queries.create)

    async def _destroy(self) -> None:
        pool, self._pool = self._pool, None
        await close_pool(pool)
        await super()._destroy()

    async def handle(
        self,
        operation: str,
        request: Request,
        handler: Callable[[], Awaitable[Response | None]],
        *,
        compensation: bool = False,
    ) -> Response | None:
        """Run ``handler`` for ``request`` at most once, as the action (or the ``compensation``) of ``operation``,
        and return its response; answer a duplicate with the recorded reply. :func:`idempotent` calls this."""
        saga, identifier = _identity(request)
        kind = Kind.COMPENSATION if compensation else Kind.ACTION
        async with self._transaction() as cursor:
            result = await self._handle(cursor, saga, identifier, operation, kind, handler)
        if isinstance(result, ResponseException):
            raise result  # a refusal: recorded and committed, then answered the way the dispatcher answers it
        return result

    async def _handle(
        self,
        cursor: aiopg.Cursor,
        saga: UUID,
        identifier: UUID,
        operation: str,
        kind: Kind,
        handler: Callable[[], Awaitable[Response | None]],
    ) -> Response | ResponseException | None:
        # A compensation first claims the action's row: if it gets it, the action never ran and never will.
        prevented = kind is Kind.COMPENSATION and await self._claim(
            cursor, saga, operation, Kind.ACTION, identifier, ParticipantOutcome.PREVENTED
        )
        if not await self._claim(cursor, saga, operation, kind, identifier, PENDING):
            return _answer(await self._read(cursor, saga, operation, kind), identifier, saga, operation)
        if kind is Kind.COMPENSATION and (prevented or not await self._action_done(cursor, saga, operation)):
            return await self._settle(cursor, saga, operation, kind, ParticipantOutcome.SKIPPED, _reply(200, None))
        return await self._run(cursor, saga, operation, kind, handler)

    async def record(self, saga: UUID, operation: str, *, compensation: bool = False) -> ParticipantRecord | None:
        """The record of ``operation``'s action (or ``compensation``) in the ``saga`` execution, if there is one."""
        kind = Kind.COMPENSATION if compensation else Kind.ACTION
        async with self._transaction() as cursor:
            return await self._read(cursor, saga, operation, kind)

    async def _run(
        self,
        cursor: aiopg.Cursor,
        saga: UUID,
        operation: str,
        kind: Kind,
        handler: Callable[[], Awaitable[Response | None]],
    ) -> Response | ResponseException | None:
        await cursor.execute(f"SAVEPOINT {_SAVEPOINT}")
        token = _CURSOR.set(cursor)
        try:
            response = await handler()
        except ResponseException as exc:
            await cursor.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
            # The dispatcher answers a ResponseException with its repr and status: record exactly that.
            await self._settle(cursor, saga, operation, kind, ParticipantOutcome.REFUSED, _reply(exc.status, repr(exc)))
            return exc
        finally:
            _CURSOR.reset(token)
        if isinstance(response, Response):
            reply = _reply(response.status, await response.content())
        else:
            reply = _reply(200, None)
        await self._settle(cursor, saga, operation, kind, ParticipantOutcome.DONE, reply)
        return response

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiopg.Cursor]:
        if self._pool is None:
            raise ConnectionException(f"{type(self).__name__} is not set up.")
        with self._faults():
            async with self._pool.acquire() as connection, connection.cursor() as cursor:
                await cursor.execute("BEGIN")
                try:
                    yield cursor
                except BaseException:
                    # Closing makes the server roll back, whatever state the session was left in.
                    connection.close()
                    raise
                await cursor.execute("COMMIT")

    @contextmanager
    def _faults(self) -> Iterator[None]:
        import psycopg2

        try:
            yield
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            raise ConnectionException(f"{self._where()} failed: {exc!r}") from exc


def idempotent(
    operation: str, *, compensation: bool = False, barrier: ParticipantBarrier | None = None
) -> Callable[[_HandlerT], _HandlerT]:
    """Make a participant's broker handler take effect once per saga request.

    ``operation`` names what the handler does; the action and its compensation share it::

        class StockService:
            @enroute.broker.command("ReserveStock")
            @idempotent("reserve_stock")
            async def reserve(self, request: Request) -> Response:
                await participant_cursor().execute("INSERT INTO holds ...")
                ...

            @enroute.broker.command("ReleaseStock")
            @idempotent("reserve_stock", compensation=True)
            async def release(self, request: Request) -> Response:
                ...

    Put it *under* the ``enroute`` decorators. Requests need the ``saga`` header the saga engine sends. The
    ``barrier`` defaults to the injected :class:`ParticipantBarrier`.
    """
    if not isinstance(operation, str) or not operation:
        raise ValueError(f"The operation must be a non-empty string. Obtained: {operation!r}")

    def decorate(fn: _HandlerT) -> _HandlerT:
        if isinstance(fn, HandlerWrapper):
            raise TypeError(f"Put @idempotent under the @enroute decorators of {fn!r}, not above them.")

        @wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Response | None:
            async def run() -> Response | None:
                response = fn(*args, **kwargs)
                return await response if isawaitable(response) else response

            request = args[-1] if args else None
            return await (barrier or _injected_barrier()).handle(operation, request, run, compensation=compensation)

        return wrapper  # type: ignore[return-value]

    return decorate


def _injected_barrier() -> ParticipantBarrier:
    try:
        return Inject.resolve(ParticipantBarrier)
    except NotProvidedException:
        raise NotProvidedException(
            "@idempotent needs a ParticipantBarrier: list minos.saga.ParticipantBarrier under the config's "
            "'injections', or pass barrier=..."
        ) from None
