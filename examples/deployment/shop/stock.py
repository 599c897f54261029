"""The stock service: holds units for an order, releases them when the order's saga compensates."""

from __future__ import annotations

from minos.networks import BrokerRequest, Response, ResponseException, enroute

from .database import query


class StockService:
    """Each action runs once per order however often its request arrives (the saga re-sends a step when an order
    replica dies before storing it): ``reserve_stock`` and ``release_stock`` are keyed by the order, record their
    outcome and answer duplicates with it; a release that arrives before its hold is recorded (null compensation)
    and the late hold is then refused. See ``schema.py``."""

    def __init__(self, *args, **kwargs):
        pass

    @enroute.broker.command("ReserveStock")
    async def reserve_stock(self, request: BrokerRequest) -> Response:
        content = await request.content()
        [(outcome,)] = await query(
            "SELECT reserve_stock(%(order)s, %(item)s, %(quantity)s)",
            order=content["order"],
            item=content["item"],
            quantity=content["quantity"],
        )
        if outcome != "held":
            raise ResponseException(f"order {content['order']}: not enough {content['item']} ({outcome})")
        return Response({"held": content["quantity"]})

    @enroute.broker.command("ReleaseStock")
    async def release_stock(self, request: BrokerRequest) -> Response:
        order = (await request.content())["order"]
        [(outcome,)] = await query("SELECT release_stock(%(order)s)", order=order)
        return Response({"released": outcome})
