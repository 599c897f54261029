"""The answers every service gives to the saga's two-phase commit, recorded so the end-to-end run can check that
every transaction was concluded (committed or rejected) and none was left reserved."""

from __future__ import annotations

from minos.networks import BrokerRequest, Response

from minos.saga import TransactionParticipant

from .database import query


class TransactionService(TransactionParticipant):
    """Answers ``_Reserve/_Commit/_Reject{Service}Transaction`` for the service it runs in. The shop's changes are
    final when each step runs (compensations undo them), so reserving always succeeds; the outcome is recorded.
    A commit or rejection that arrives again (a redelivery) changes nothing."""

    def __init__(self, *args, **kwargs):
        pass

    async def reserve(self, request: BrokerRequest) -> Response:
        uuid = await request.content()
        await query(
            "INSERT INTO transactions (uuid, state) VALUES (%(uuid)s, 'reserved') ON CONFLICT DO NOTHING RETURNING 1",
            uuid=str(uuid),
        )
        return Response(uuid)

    async def commit(self, request: BrokerRequest) -> None:
        await self._conclude(await request.content(), "committed")

    async def reject(self, request: BrokerRequest) -> None:
        await self._conclude(await request.content(), "rejected")

    @staticmethod
    async def _conclude(uuid: object, state: str) -> None:
        await query(
            "INSERT INTO transactions (uuid, state) VALUES (%(uuid)s, %(state)s) "
            "ON CONFLICT (uuid) DO UPDATE SET state = EXCLUDED.state RETURNING 1",
            uuid=str(uuid),
            state=state,
        )
