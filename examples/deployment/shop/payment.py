"""The payment service: charges an order's amount (declining those over the card limit) and refunds it.

Some orders carry a ``fault`` marker (set by ``e2e.py``) that makes this service misbehave on purpose, so the order
saga's timeout and retry policy (``order.py``) are exercised against a real broker: ``"reply-lost-once"`` charges
but drops the reply (the saga's re-send, same message identifier, gets the reply ``@idempotent`` recorded), and
``"no-reply"`` never answers (the saga times out and compensates)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, Optional

from minos.networks import BrokerRequest, Response, ResponseException, enroute

from minos.saga import idempotent

from .database import call

CARD_LIMIT = 500
"""Charges above this amount are declined, which makes their sagas compensate."""

REPLY_LOST_ONCE = "reply-lost-once"
NO_REPLY = "no-reply"
FAULTS = (REPLY_LOST_ONCE, NO_REPLY)
"""The values of an order's ``fault`` marker."""

_Handler = Callable[[Any, BrokerRequest], Awaitable[Optional[Response]]]


def drop_reply(request: BrokerRequest) -> None:
    """Make minos' dispatcher send no reply to ``request``, as if the reply were lost on the way."""
    request.raw.set_reply_topic(None)


def silent_when_marked(handler: _Handler) -> _Handler:
    """Ignore requests marked ``"no-reply"``: nothing is done, recorded or answered. It wraps ``@idempotent`` so
    that no reply is recorded either, and a re-sent request is ignored again."""

    @wraps(handler)
    async def wrapper(self: Any, request: BrokerRequest) -> Response | None:
        if (await request.content()).get("fault") == NO_REPLY:
            drop_reply(request)
            return None
        return await handler(self, request)

    return wrapper


class PaymentService:
    """Charges and refunds take effect once, like the stock service's actions. A decline is raised (status 400):
    it depends on the amount only, so answering it again after a rollback gives the same answer."""

    def __init__(self, *args, **kwargs):
        pass

    @enroute.broker.command("ChargePayment")
    @silent_when_marked
    @idempotent("charge_payment")
    async def charge_payment(self, request: BrokerRequest) -> Response:
        content = await request.content()
        outcome = await call("SELECT charge_payment(%s, %s, %s)", content["order"], content["amount"], CARD_LIMIT)
        if outcome != "charged":
            raise ResponseException(f"order {content['order']}: payment of {content['amount']} declined")
        if content.get("fault") == REPLY_LOST_ONCE:
            drop_reply(request)  # @idempotent still records the reply: the re-sent request gets it
        return Response({"charged": content["amount"]})

    @enroute.broker.command("RefundPayment")
    @idempotent("charge_payment", compensation=True)
    async def refund_payment(self, request: BrokerRequest) -> Response:
        order = (await request.content())["order"]
        return Response({"refunded": await call("SELECT refund_payment(%s)", order)})
