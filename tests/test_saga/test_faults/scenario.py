"""The saga the fault tests run: reserve stock, then charge the payment; a charge over the limit is refused, which
refunds the charge request and releases the stock. Callbacks live here so that stored executions name them."""

from __future__ import annotations

from minos.saga import RetryPolicy, Saga, SagaContext, SagaRequest, SagaResponse

from . import faults

PAYMENT_LIMIT = 100
STOCK, PAYMENT = "stock", "payment"
ACTION, COMPENSATION = "action", "compensation"
PARTICIPANT_TOPICS = {
    "ReserveStock": (STOCK, ACTION),
    "ReleaseStock": (STOCK, COMPENSATION),
    "ChargePayment": (PAYMENT, ACTION),
    "RefundPayment": (PAYMENT, COMPENSATION),
}
# A reply lost to a fault (consumed by a crash, or dropped by a failed store) is recovered by re-sending its request
# with the same identity once the wait expires; the participants answer a duplicate with their recorded reply.
REPLY_TIMEOUT = 1.0
RESEND = RetryPolicy(maximum_attempts=20, initial_interval=0.1, backoff_coefficient=1.0)
COMPENSATION_TOPICS = frozenset(topic for topic, (_, kind) in PARTICIPANT_TOPICS.items() if kind == COMPENSATION)


def _order(context: SagaContext) -> dict[str, object]:
    return {"order_id": context["order_id"], "amount": context["amount"]}


def reserve_stock(context: SagaContext) -> SagaRequest:
    return SagaRequest("ReserveStock", _order(context))


def release_stock(context: SagaContext) -> SagaRequest:
    return SagaRequest("ReleaseStock", _order(context))


def charge_payment(context: SagaContext) -> SagaRequest:
    return SagaRequest("ChargePayment", _order(context))


def refund_payment(context: SagaContext) -> SagaRequest:
    return SagaRequest("RefundPayment", _order(context))


async def stock_reserved(context: SagaContext, response: SagaResponse) -> SagaContext:
    await faults.reached("apply_reply")
    context["stock"] = await response.content()
    return context


async def payment_charged(context: SagaContext, response: SagaResponse) -> SagaContext:
    context["payment"] = await response.content()
    return context


async def payment_refused(context: SagaContext, response: SagaResponse) -> SagaContext:
    raise ValueError(f"The payment was refused: {await response.content()}")


ORDER_SAGA = (
    Saga()
    .remote_step()
    .on_execute(reserve_stock)
    .on_success(stock_reserved)
    .on_failure(release_stock)
    .timeout(REPLY_TIMEOUT)
    .retry(RESEND)
    .remote_step()
    .on_execute(charge_payment)
    .on_success(payment_charged)
    .on_error(payment_refused)
    .on_failure(refund_payment)
    .timeout(REPLY_TIMEOUT)
    .retry(RESEND)
    .commit()
)
