"""The payment service: charges an order's amount (declining those over the card limit) and refunds it."""

from __future__ import annotations

from minos.networks import BrokerRequest, Response, ResponseException, enroute

from .database import query

CARD_LIMIT = 500
"""Charges above this amount are declined, which makes their sagas compensate."""


class PaymentService:
    """Charges and refunds run once per order, like the stock service's actions (see ``schema.py``)."""

    def __init__(self, *args, **kwargs):
        pass

    @enroute.broker.command("ChargePayment")
    async def charge_payment(self, request: BrokerRequest) -> Response:
        content = await request.content()
        [(outcome,)] = await query(
            "SELECT charge_payment(%(order)s, %(amount)s, %(limit)s)",
            order=content["order"],
            amount=content["amount"],
            limit=CARD_LIMIT,
        )
        if outcome != "charged":
            raise ResponseException(f"order {content['order']}: payment of {content['amount']} declined")
        return Response({"charged": content["amount"]})

    @enroute.broker.command("RefundPayment")
    async def refund_payment(self, request: BrokerRequest) -> Response:
        order = (await request.content())["order"]
        [(outcome,)] = await query("SELECT refund_payment(%(order)s)", order=order)
        return Response({"refunded": outcome})
