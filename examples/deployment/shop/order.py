"""The order service: ``CreateOrder`` runs the order saga (hold stock, charge payment), which finishes or
compensates; replies reach ``SagaService`` on any replica."""

from __future__ import annotations

from typing import Any, Union

from minos.common import Inject
from minos.networks import BrokerRequest, enroute

from minos.saga import RetryPolicy, Saga, SagaContext, SagaManager, SagaRequest, SagaResponse

from .database import query


async def start(context: SagaContext) -> None:
    """Nothing to do: this step exists for its compensation, which marks the order compensated."""


async def mark_compensated(context: SagaContext) -> None:
    await query("UPDATE orders SET status = 'compensated' WHERE id = %(order)s RETURNING 1", order=context["order"])


def reserve_stock(context: SagaContext) -> SagaRequest:
    return SagaRequest(
        "ReserveStock", {"order": context["order"], "item": context["item"], "quantity": context["quantity"]}
    )


def release_stock(context: SagaContext) -> SagaRequest:
    return SagaRequest("ReleaseStock", {"order": context["order"]})


def charge_payment(context: SagaContext) -> SagaRequest:
    return SagaRequest(
        "ChargePayment", {"order": context["order"], "amount": context["amount"], "fault": context["fault"]}
    )


def refund_payment(context: SagaContext) -> SagaRequest:
    return SagaRequest("RefundPayment", {"order": context["order"]})


async def stock_held(context: SagaContext, response: SagaResponse) -> Union[SagaContext, Exception]:
    content = await response.content()
    if not content["held"]:
        return ValueError(f"order {context['order']}: {content['outcome']}")  # fails the step: the saga compensates
    context["held"] = content["held"]
    return context


async def payment_charged(context: SagaContext, response: SagaResponse) -> SagaContext:
    context["charged"] = (await response.content())["charged"]
    return context


async def refused(context: SagaContext, response: SagaResponse) -> Exception:
    return ValueError(await response.content())  # returning an exception fails the step: the saga compensates


PAYMENT_TIMEOUT = 5.0
"""Seconds each payment request waits for its reply. Short for the example, so that its deliberately unanswered
requests (see ``payment.py``) time out within the run; a real card gateway would get a minute or more. It must stay
well above the recovery period (``saga.recovery`` in ``order/config.yml``: every second here), which is when
expired waits are noticed, and above the slowest expected reply (a loaded CI machine, the redelivery burst after
the kill): a reply that misses one attempt is re-sent and answered by ``@idempotent``, and only three misses in a
row (about 18 seconds) compensate an order."""

PAYMENT_RETRY = RetryPolicy(maximum_attempts=3, initial_interval=1, backoff_coefficient=2)
"""Three sends of the payment request with the same message identifier, one and then two seconds after a timeout."""


async def mark_finished(context: SagaContext) -> None:
    await query("UPDATE orders SET status = 'finished' WHERE id = %(order)s RETURNING 1", order=context["order"])


ORDER_SAGA = (
    Saga()
    .local_step(start)
    .on_failure(mark_compensated)
    .remote_step(reserve_stock)
    .on_success(stock_held)
    .on_error(refused)
    .on_failure(release_stock)
    .remote_step(charge_payment)
    .on_success(payment_charged)
    .on_error(refused)
    .on_failure(refund_payment)
    .timeout(PAYMENT_TIMEOUT)
    .retry(PAYMENT_RETRY)
    .local_step(mark_finished)
    .commit()
)


class OrderService:
    """Starts one saga per order. ``CreateOrder`` may arrive again (the RabbitMQ plugin redelivers what a killed
    replica had received): an order already ``running`` or concluded is not started again; one still ``new`` (its
    replica died before its saga was stored) is. Starting it twice is harmless: stock and payment act once per
    order."""

    def __init__(self, *args, **kwargs):
        pass

    @enroute.broker.command("CreateOrder")
    async def create_order(self, request: BrokerRequest) -> None:
        order: dict[str, Any] = await request.content()
        [(status,)] = await query(
            "WITH new AS (INSERT INTO orders (id, item, quantity, amount, status) "
            "VALUES (%(id)s, %(item)s, %(quantity)s, %(amount)s, 'new') ON CONFLICT DO NOTHING RETURNING status) "
            "SELECT status FROM new UNION ALL SELECT status FROM orders WHERE id = %(id)s",
            **order,
        )
        if status != "new":
            return
        context = SagaContext(
            order=order["id"],
            item=order["item"],
            quantity=order["quantity"],
            amount=order["amount"],
            fault=order.get("fault"),
        )
        manager = Inject.resolve(SagaManager)
        await manager.run(ORDER_SAGA, context, pause_on_disk=True, raise_on_error=False)
        await query(
            "UPDATE orders SET status = 'running' WHERE id = %(id)s AND status = 'new' RETURNING 1", id=order["id"]
        )
