"""What a run takes from the injector is resolved once per execute() call, and afresh for the next call; the name of
an injected config is read once while that config stays injected."""

from __future__ import annotations

import pytest
from minos.common import Config, DependencyInjector

import minos.saga
from minos.saga import Saga, SagaExecution, SagaPausedExecutionStepException, SagaResponse
from tests.helpers import CONFIG_FILE_PATH
from tests.test_saga.utils import add_amount, add_order, handle_ticket, send_create_payment, send_create_ticket


class ServiceName:
    """The name the injected config answers with, and a log of every time it was asked."""

    def __init__(self) -> None:
        self.current = "order"
        self.reads: list[str] = []

    def get_name(self, config: Config) -> str:
        self.reads.append(self.current)
        return self.current


@pytest.fixture
def service_name(monkeypatch, injector) -> ServiceName:
    name = ServiceName()
    monkeypatch.setattr(Config, "get_name", lambda config: name.get_name(config))
    return name


async def test_one_execute_reads_the_service_name_once(service_name):
    saga = Saga().local_step(add_order).local_step(add_amount).local_step(add_amount).commit()
    execution = SagaExecution.from_definition(saga)

    await execution.execute(autocommit=False)

    assert service_name.reads == ["order"]
    assert [step.related_services for step in execution.executed_steps] == [{"order"}] * 3


async def test_the_next_execute_sees_the_name_of_a_newly_injected_config(injector, broker_publisher, tmp_path):
    saga = (
        Saga()
        .remote_step(send_create_ticket)
        .on_success(handle_ticket)
        .remote_step(send_create_payment)
        .on_success(handle_ticket)
        .commit()
    )
    execution = SagaExecution.from_definition(saga)
    with pytest.raises(SagaPausedExecutionStepException):
        await execution.execute(autocommit=False)

    shipping_config = tmp_path / "shipping.yml"
    shipping_config.write_text(CONFIG_FILE_PATH.read_text().replace("name: order", "name: shipping", 1))
    await injector.unwire_and_destroy_injections()
    shipping = DependencyInjector(Config(shipping_config), [broker_publisher])
    await shipping.wire_and_setup_injections(modules=[minos.saga])
    try:
        with pytest.raises(SagaPausedExecutionStepException):
            await execution.execute(SagaResponse("ok", {"ticket"}, uuid=execution.uuid), autocommit=False)
    finally:
        await shipping.unwire_and_destroy_injections()
        await injector.wire_and_setup_injections(modules=[minos.saga])

    assert [message.reply_topic for message in broker_publisher.messages] == ["orderReply", "shippingReply"]
    assert execution.executed_steps[0].related_services == {"order", "ticket"}
    assert execution.paused_step.related_services == {"shipping"}


async def test_the_same_config_is_asked_its_name_once_across_executes(service_name):
    saga = Saga().local_step(add_order).commit()

    for _ in range(3):
        await SagaExecution.from_definition(saga).execute(autocommit=False)

    assert service_name.reads == ["order"]
