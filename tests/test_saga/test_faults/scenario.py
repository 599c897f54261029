"""The saga the fault tests run: reserve stock, then charge the payment; a charge over the limit is refused, which
refunds the charge request and releases the stock. Callbacks live here so that stored executions name them."""

from __future__ import annotations

from minos.saga import Saga, SagaContext, SagaRequest, SagaResponse

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
    .remote_step()
    .on_execute(charge_payment)
    .on_success(payment_charged)
    .on_error(payment_refused)
    .on_failure(refund_payment)
    .commit()
)
