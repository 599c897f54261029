"""The participants (stock, payment) and the two-phase-commit answers every service gives.

Participants change their state *tentatively* under the saga's transaction (the last uuid of the ``transactions``
request header) and make it final when the orchestrator's ``TransactionCommitter`` sends
``_Commit{Service}Transaction`` (or drop it on ``_Reject{Service}Transaction``), as ``minos.aggregate`` does.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from minos.common import Config
from minos.networks import BrokerRequest, EnrouteDecorator, Response, ResponseException, enroute

from .sagas import say


def transaction_of(request: BrokerRequest) -> str:
    """The uuid of the saga transaction a request belongs to (the last one of its ``transactions`` header)."""
    return request.headers.get("transactions", "").split(",")[-1]


class TransactionService:
    """Answers ``_Reserve/_Commit/_Reject{Service}Transaction`` for ``ledger`` (an object with ``commit(uuid)`` and
    ``reject(uuid)``), named after the service it runs in, like ``minos.aggregate.TransactionService``."""

    def __init__(self, ledger: Any):
        self.ledger = ledger

    @classmethod
    def __get_enroute__(cls, config: Config) -> dict[str, set[EnrouteDecorator]]:
        name = config.get_name().title()
        return {
            cls.reserve.__name__: {enroute.broker.command(f"_Reserve{name}Transaction")},
            cls.commit.__name__: {enroute.broker.command(f"_Commit{name}Transaction")},
            cls.reject.__name__: {enroute.broker.command(f"_Reject{name}Transaction")},
        }

    async def reserve(self, request: BrokerRequest) -> Response:
        return Response(await request.content())  # nothing can go wrong between the step and the commit here

    async def commit(self, request: BrokerRequest) -> None:
        self.ledger.commit(str(await request.content()))

    async def reject(self, request: BrokerRequest) -> None:
        self.ledger.reject(str(await request.content()))


class StockService:
    """Holds units for orders; a hold becomes a sale when its saga commits."""

    def __init__(self, on_hand: dict[str, int]):
        self.on_hand = dict(on_hand)
        self.holds: dict[str, dict[int, tuple[str, int]]] = defaultdict(dict)  # transaction -> order -> hold

    def available(self, item: str) -> int:
        held = sum(qty for holds in self.holds.values() for held_item, qty in holds.values() if held_item == item)
        return self.on_hand.get(item, 0) - held

    @enroute.broker.command("ReserveStock")
    async def reserve_stock(self, request: BrokerRequest) -> Response:
        content = await request.content()
        order, item, quantity = content["order"], content["item"], content["quantity"]
        if quantity > (available := self.available(item)):
            say("stock", f"order #{order}: only {available} {item} left, refused")
            raise ResponseException(f"only {available} {item} left")
        self.holds[transaction_of(request)][order] = (item, quantity)
        say("stock", f"order #{order}: {quantity} × {item} held ({self.available(item)} still available)")
        return Response({"held": quantity})

    @enroute.broker.command("ReleaseStock")
    async def release_stock(self, request: BrokerRequest) -> Response:
        order = (await request.content())["order"]
        for holds in self.holds.values():
            if (hold := holds.pop(order, None)) is not None:
                say("stock", f"order #{order}: hold of {hold[1]} × {hold[0]} released (compensation)")
        return Response({"released": order})

    def commit(self, transaction: str) -> None:
        for order, (item, quantity) in self.holds.pop(transaction, {}).items():
            self.on_hand[item] -= quantity
            say(
                "stock",
                f"order #{order}: commit, {item} on hand {self.on_hand[item] + quantity} → {self.on_hand[item]}",
            )

    def reject(self, transaction: str) -> None:
        for order, (item, quantity) in self.holds.pop(transaction, {}).items():
            say("stock", f"order #{order}: reject, hold of {quantity} × {item} dropped")


class PaymentService:
    """Checks for fraud and charges customers; a charge is pending until its saga commits."""

    def __init__(self, balances: dict[str, int]):
        self.balances = dict(balances)
        self.pending: dict[str, dict[int, tuple[str, int]]] = defaultdict(dict)  # transaction -> order -> charge

    def available(self, customer: str) -> int:
        pending = sum(
            amount for charges in self.pending.values() for who, amount in charges.values() if who == customer
        )
        return self.balances.get(customer, 0) - pending

    @enroute.broker.command("CheckFraud")
    async def check_fraud(self, request: BrokerRequest) -> Response:
        content = await request.content()
        if content["amount"] > content["max_amount"]:
            say("payment", f"order #{content['order']}: {content['amount']} € looks like fraud")
            raise ResponseException("suspicious amount")
        say("payment", f"order #{content['order']}: fraud check passed")
        return Response({"fraud": False})

    @enroute.broker.command("ChargePayment")
    async def charge(self, request: BrokerRequest) -> Response:
        content = await request.content()
        order, customer, amount = content["order"], content["customer"], content["amount"]
        if amount > (available := self.available(customer)):
            say("payment", f"order #{order}: {customer} has {available} €, cannot pay {amount} €, refused")
            raise ResponseException(f"insufficient funds ({available} € < {amount} €)")
        self.pending[transaction_of(request)][order] = (customer, amount)
        say("payment", f"order #{order}: {amount} € charge pending for {customer}")
        return Response({"charged": amount})

    def commit(self, transaction: str) -> None:
        for order, (customer, amount) in self.pending.pop(transaction, {}).items():
            self.balances[customer] -= amount
            say("payment", f"order #{order}: commit, {customer}'s balance → {self.balances[customer]} €")

    def reject(self, transaction: str) -> None:
        for order, (_, amount) in self.pending.pop(transaction, {}).items():
            say("payment", f"order #{order}: reject, pending charge of {amount} € dropped")


class OrderLedger:
    """The order service writes its orders directly (see ``sagas.ORDERS``): nothing to commit or reject."""

    def commit(self, transaction: str) -> None:
        pass

    def reject(self, transaction: str) -> None:
        pass
