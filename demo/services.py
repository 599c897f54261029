"""The participants (stock, payment) and the two-phase-commit answers every service gives.

Participants change their state *tentatively* under the saga's transaction (the last uuid of the ``transactions``
request header) and make it final when the orchestrator's ``TransactionCommitter`` sends
``_Commit{Service}Transaction`` (or drop it on ``_Reject{Service}Transaction``), as ``minos.aggregate`` does.

Their handlers of saga requests are ``@idempotent`` (``minos.saga.participants``): a request delivered twice takes
effect once and the duplicate gets the recorded reply; the work goes through ``participant_cursor()``, so it
commits together with that record.
"""

from __future__ import annotations

from typing import Any

from minos.networks import BrokerRequest, Response, ResponseException, enroute

from minos.saga import TransactionParticipant, idempotent, participant_cursor

from .console import say
from .database import ParticipantsDatabase


def transaction_of(request: BrokerRequest) -> str:
    """The uuid of the saga transaction a request belongs to (the last one of its ``transactions`` header)."""
    return request.headers.get("transactions", "").split(",")[-1]


class TransactionService(TransactionParticipant):
    """Answers ``_Reserve/_Commit/_Reject{Service}Transaction`` for ``ledger`` (an object with async ``commit(uuid)``
    and ``reject(uuid)``, idempotent by nature: what a transaction holds is moved or dropped once), named after the
    service it runs in, like ``minos.aggregate.TransactionService``."""

    def __init__(self, ledger: Any):
        self.ledger = ledger

    async def reserve(self, request: BrokerRequest) -> Response:
        return Response(await request.content())  # nothing can go wrong between the step and the commit here

    async def commit(self, request: BrokerRequest) -> None:
        await self.ledger.commit(str(await request.content()))

    async def reject(self, request: BrokerRequest) -> None:
        await self.ledger.reject(str(await request.content()))


class StockService:
    """Holds units for orders; a hold becomes a sale when its saga commits. Its tables live in the participants'
    database; the saga requests it answers are ``@idempotent`` (the work and its record commit together)."""

    def __init__(self, database: ParticipantsDatabase):
        self.database = database

    async def create(self, on_hand: dict[str, int]) -> None:
        async with self.database.transaction() as cursor:
            await cursor.execute(
                "CREATE TABLE stock_on_hand (item TEXT PRIMARY KEY, quantity INT NOT NULL);"
                "CREATE TABLE stock_holds (order_id INT PRIMARY KEY, transaction TEXT, item TEXT, quantity INT)"
            )
            for item, quantity in on_hand.items():
                await cursor.execute("INSERT INTO stock_on_hand VALUES (%s, %s)", (item, quantity))

    async def on_hand(self, item: str) -> int:
        return await self.database.value("SELECT quantity FROM stock_on_hand WHERE item = %s", item)

    async def available(self, item: str) -> int:
        return await self.database.value(
            "SELECT quantity - (SELECT COALESCE(sum(quantity), 0) FROM stock_holds WHERE item = %s) "
            "FROM stock_on_hand WHERE item = %s",
            item,
            item,
        )

    @enroute.broker.command("ReserveStock")
    @idempotent("reserve_stock")
    async def reserve_stock(self, request: BrokerRequest) -> Response:
        content = await request.content()
        order, item, quantity = content["order"], content["item"], content["quantity"]
        cursor = participant_cursor()
        # The row lock makes concurrent reservations of one item take turns.
        await cursor.execute("SELECT quantity FROM stock_on_hand WHERE item = %s FOR UPDATE", (item,))
        (on_hand,) = await cursor.fetchone()
        await cursor.execute("SELECT COALESCE(sum(quantity), 0) FROM stock_holds WHERE item = %s", (item,))
        available = on_hand - (await cursor.fetchone())[0]
        if quantity > available:
            say("stock", f"order #{order}: only {available} {item} left, refused")
            raise ResponseException(f"only {available} {item} left")
        await cursor.execute(
            "INSERT INTO stock_holds VALUES (%s, %s, %s, %s)", (order, transaction_of(request), item, quantity)
        )
        say("stock", f"order #{order}: {quantity} × {item} held ({available - quantity} still available)")
        return Response({"held": quantity})

    @enroute.broker.command("ReleaseStock")
    @idempotent("reserve_stock", compensation=True)
    async def release_stock(self, request: BrokerRequest) -> Response:
        order = (await request.content())["order"]
        cursor = participant_cursor()
        await cursor.execute("DELETE FROM stock_holds WHERE order_id = %s RETURNING item, quantity", (order,))
        for item, quantity in await cursor.fetchall():
            say("stock", f"order #{order}: hold of {quantity} × {item} released (compensation)")
        return Response({"released": order})

    async def commit(self, transaction: str) -> None:
        async with self.database.transaction() as cursor:
            await cursor.execute(
                "DELETE FROM stock_holds WHERE transaction = %s RETURNING order_id, item, quantity", (transaction,)
            )
            for order, item, quantity in await cursor.fetchall():
                await cursor.execute(
                    "UPDATE stock_on_hand SET quantity = quantity - %s WHERE item = %s RETURNING quantity",
                    (quantity, item),
                )
                (left,) = await cursor.fetchone()
                say("stock", f"order #{order}: commit, {item} on hand {left + quantity} → {left}")

    async def reject(self, transaction: str) -> None:
        async with self.database.transaction() as cursor:
            await cursor.execute(
                "DELETE FROM stock_holds WHERE transaction = %s RETURNING order_id, item, quantity", (transaction,)
            )
            for order, item, quantity in await cursor.fetchall():
                say("stock", f"order #{order}: reject, hold of {quantity} × {item} dropped")


class PaymentService:
    """Checks for fraud and charges customers; a charge is pending until its saga commits. Its tables live in the
    participants' database; the saga requests it answers are ``@idempotent``."""

    def __init__(self, database: ParticipantsDatabase):
        self.database = database

    async def create(self, balances: dict[str, int]) -> None:
        async with self.database.transaction() as cursor:
            await cursor.execute(
                "CREATE TABLE payment_balances (customer TEXT PRIMARY KEY, balance INT NOT NULL);"
                "CREATE TABLE payment_pending (order_id INT PRIMARY KEY, transaction TEXT, customer TEXT, amount INT)"
            )
            for customer, balance in balances.items():
                await cursor.execute("INSERT INTO payment_balances VALUES (%s, %s)", (customer, balance))

    async def balance(self, customer: str) -> int:
        return await self.database.value("SELECT balance FROM payment_balances WHERE customer = %s", customer)

    @enroute.broker.command("CheckFraud")
    @idempotent("check_fraud")
    async def check_fraud(self, request: BrokerRequest) -> Response:
        content = await request.content()
        if content["amount"] > content["max_amount"]:
            say("payment", f"order #{content['order']}: {content['amount']} € looks like fraud")
            raise ResponseException("suspicious amount")
        say("payment", f"order #{content['order']}: fraud check passed")
        return Response({"fraud": False})

    @enroute.broker.command("ChargePayment")
    @idempotent("charge_payment")
    async def charge(self, request: BrokerRequest) -> Response:
        content = await request.content()
        order, customer, amount = content["order"], content["customer"], content["amount"]
        cursor = participant_cursor()
        await cursor.execute("SELECT balance FROM payment_balances WHERE customer = %s FOR UPDATE", (customer,))
        (balance,) = await cursor.fetchone()
        await cursor.execute("SELECT COALESCE(sum(amount), 0) FROM payment_pending WHERE customer = %s", (customer,))
        available = balance - (await cursor.fetchone())[0]
        if amount > available:
            say("payment", f"order #{order}: {customer} has {available} €, cannot pay {amount} €, refused")
            raise ResponseException(f"insufficient funds ({available} € < {amount} €)")
        await cursor.execute(
            "INSERT INTO payment_pending VALUES (%s, %s, %s, %s)", (order, transaction_of(request), customer, amount)
        )
        say("payment", f"order #{order}: {amount} € charge pending for {customer}")
        return Response({"charged": amount})

    async def commit(self, transaction: str) -> None:
        async with self.database.transaction() as cursor:
            await cursor.execute(
                "DELETE FROM payment_pending WHERE transaction = %s RETURNING order_id, customer, amount",
                (transaction,),
            )
            for order, customer, amount in await cursor.fetchall():
                await cursor.execute(
                    "UPDATE payment_balances SET balance = balance - %s WHERE customer = %s RETURNING balance",
                    (amount, customer),
                )
                (balance,) = await cursor.fetchone()
                say("payment", f"order #{order}: commit, {customer}'s balance → {balance} €")

    async def reject(self, transaction: str) -> None:
        async with self.database.transaction() as cursor:
            await cursor.execute(
                "DELETE FROM payment_pending WHERE transaction = %s RETURNING order_id, amount", (transaction,)
            )
            for order, amount in await cursor.fetchall():
                say("payment", f"order #{order}: reject, pending charge of {amount} € dropped")


class OrderLedger:
    """The order service writes its orders directly (see ``sagas.ORDERS``): nothing to commit or reject."""

    async def commit(self, transaction: str) -> None:
        pass

    async def reject(self, transaction: str) -> None:
        pass
