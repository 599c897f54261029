"""The payment service: charges an order's amount (declining those over the card limit) and refunds it."""

from __future__ import annotations

from minos.networks import BrokerRequest, Response, ResponseException, enroute

from minos.saga import idempotent

from .database import call

CARD_LIMIT = 500
"""Charges above this amount are declined, which makes their sagas compensate."""


class PaymentService:
    """Charges and refunds take effect once, like the stock service's actions. A decline is raised (status 400):
    it depends on the amount only, so answering it again after a rollback gives the same answer."""

    def __init__(self, *args, **kwargs):
        pass

    @enroute.broker.command("ChargePayment")
    @idempotent("charge_payment")
    async def charge_payment(self, request: BrokerRequest) -> Response:
        content = await request.content()
        outcome = await call("SELECT charge_payment(%s, %s, %s)", content["order"], content["amount"], CARD_LIMIT)
        if outcome != "charged":
            raise ResponseException(f"order {content['order']}: payment of {content['amount']} declined")
        return Response({"charged": content["amount"]})

    @enroute.broker.command("RefundPayment")
    @idempotent("charge_payment", compensation=True)
    async def refund_payment(self, request: BrokerRequest) -> Response:
        order = (await request.content())["order"]
        return Response({"refunded": await call("SELECT refund_payment(%s)", order)})
