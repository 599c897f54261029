"""The stock service: holds units for an order, releases them when the order's saga compensates."""

from __future__ import annotations

from minos.networks import BrokerRequest, Response, enroute

from minos.saga import idempotent

from .database import call


class StockService:
    """``@idempotent`` makes each request take effect once per saga (a duplicate gets the recorded reply, a release
    that overtakes its hold is null and the hold is then refused), recording it in the transaction the ledger
    changes in. The ledger functions are also keyed by the order (see ``schema.py``), so a saga the order service
    starts again for the same order gets the same answer.

    Running out of stock is answered, not raised: the refusal is part of the ledger (a raised refusal would roll it
    back with the handler's transaction), and the order saga fails the step on ``held: 0``."""

    def __init__(self, *args, **kwargs):
        pass

    @enroute.broker.command("ReserveStock")
    @idempotent("reserve_stock")
    async def reserve_stock(self, request: BrokerRequest) -> Response:
        content = await request.content()
        outcome = await call("SELECT reserve_stock(%s, %s, %s)", content["order"], content["item"], content["quantity"])
        return Response({"held": content["quantity"] if outcome == "held" else 0, "outcome": outcome})

    @enroute.broker.command("ReleaseStock")
    @idempotent("reserve_stock", compensation=True)
    async def release_stock(self, request: BrokerRequest) -> Response:
        order = (await request.content())["order"]
        return Response({"released": await call("SELECT release_stock(%s)", order)})
