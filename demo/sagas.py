"""The order service's saga and its callbacks (module-level functions: executions store them by import path)."""

from __future__ import annotations

from minos.saga import RetryPolicy, Saga, SagaContext, SagaRequest, SagaResponse

from .console import say

ORDERS: dict[int, dict] = {}
PAYMENT_TIMEOUT = 30  # seconds the order service waits for the payment service's answer
"""The order service's "database": order id -> order."""


def create_order(context: SagaContext) -> SagaContext:
    ORDERS[context["order_id"]] = {"status": "pending", "customer": context["customer"]}
    say("order", f"order #{context['order_id']} created (pending)")
    return context


def cancel_order(context: SagaContext) -> SagaContext:
    ORDERS[context["order_id"]]["status"] = "cancelled"
    say("order", f"order #{context['order_id']} cancelled (compensation)")
    return context


def reserve_stock(context: SagaContext) -> SagaRequest:
    return SagaRequest(
        "ReserveStock", {"order": context["order_id"], "item": context["item"], "quantity": context["quantity"]}
    )


async def stock_reserved(context: SagaContext, response: SagaResponse) -> SagaContext:
    context["held"] = (await response.content())["held"]
    return context


async def stock_unavailable(context: SagaContext, response: SagaResponse) -> Exception:
    return ValueError(f"out of stock: {await response.content()}")  # returning an exception fails the step


def release_stock(context: SagaContext) -> SagaRequest:
    return SagaRequest("ReleaseStock", {"order": context["order_id"]})


def is_premium(context: SagaContext) -> bool:
    return context["tier"] == "premium"


def skip_fraud_check(context: SagaContext) -> SagaContext:
    say("order", f"order #{context['order_id']}: premium customer, fraud check skipped")
    context["fraud_check"] = "skipped"
    return context


def check_fraud(context: SagaContext, max_amount: int) -> SagaRequest:
    # ``max_amount`` is a step parameter (see ``remote_step(check_fraud, max_amount=...)`` below).
    return SagaRequest(
        "CheckFraud", {"order": context["order_id"], "amount": context["amount"], "max_amount": max_amount}
    )


def fraud_check_passed(context: SagaContext, response: SagaResponse) -> SagaContext:
    context["fraud_check"] = "passed"
    return context


async def fraud_suspected(context: SagaContext, response: SagaResponse) -> Exception:
    return ValueError(f"fraud suspected: {await response.content()}")


def charge_payment(context: SagaContext) -> SagaRequest:
    return SagaRequest(
        "ChargePayment", {"order": context["order_id"], "customer": context["customer"], "amount": context["amount"]}
    )


def payment_done(context: SagaContext, response: SagaResponse) -> SagaContext:
    context["paid"] = True
    return context


async def payment_refused(context: SagaContext, response: SagaResponse) -> Exception:
    reason = await response.content()
    say("order", f"order #{context['order_id']}: payment refused ({reason}), compensating")
    return ValueError(f"payment refused: {reason}")


def confirm_order(context: SagaContext) -> SagaContext:
    ORDERS[context["order_id"]]["status"] = "confirmed"
    say("order", f"order #{context['order_id']} confirmed")
    return context


FRAUD_CHECK = (
    Saga().remote_step(check_fraud, max_amount=500).on_success(fraud_check_passed).on_error(fraud_suspected).commit()
)

SKIP_FRAUD_CHECK = Saga().local_step(skip_fraud_check).commit()

CREATE_ORDER = (
    Saga()
    .local_step(create_order)
    .on_failure(cancel_order)
    .remote_step(reserve_stock)
    .on_success(stock_reserved)
    .on_error(stock_unavailable)
    .on_failure(release_stock)
    .conditional_step()
    .if_then(is_premium, SKIP_FRAUD_CHECK)
    .else_then(FRAUD_CHECK)
    .remote_step(charge_payment)
    .on_success(payment_done)
    .on_error(payment_refused)
    .timeout(PAYMENT_TIMEOUT)  # an unanswered charge is sent again once, then the saga compensates
    .retry(RetryPolicy(maximum_attempts=2, initial_interval=1))
    .local_step(confirm_order)
    .commit()
)
"""Create an order: hold the stock, check for fraud unless the customer is premium, charge, confirm."""
