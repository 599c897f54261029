"""Interceptors: the engine calls them around runs and steps, outermost first, with typed inputs."""

from __future__ import annotations

from minos.saga import InMemorySagaExecutionRepository, Saga, SagaContext, SagaManager
from minos.saga.interceptors import RunInput, SagaInterceptor, StepInput
from tests.test_saga.utils import add_order, send_create_ticket


class Recorder(SagaInterceptor):
    def __init__(self, name: str, log: list[str]):
        self.name, self.log = name, log

    async def run_saga(self, input: RunInput, proceed) -> None:
        self.log.append(f"{self.name} run {'resume' if input.response else 'start'}")
        await proceed(input)
        self.log.append(f"{self.name} run end {input.execution.status.raw}")

    async def run_step(self, input: StepInput, proceed) -> SagaContext:
        self.log.append(f"{self.name} step {input.index} {input.phase} {input.step_name}")
        return await proceed(input)

    def outgoing_headers(self, headers: dict[str, str]) -> None:
        headers[f"x-{self.name}"] = "seen"


async def test_interceptors_wrap_runs_and_steps_outermost_first(injector, broker_pool, broker_publisher):
    log: list[str] = []
    manager = SagaManager(
        storage=InMemorySagaExecutionRepository(),
        broker_pool=broker_pool,
        interceptors=[Recorder("outer", log), Recorder("inner", log)],
    )
    saga = Saga().local_step(add_order).remote_step(send_create_ticket).commit()
    await manager.run(saga, pause_on_disk=True, autocommit=False)
    assert log == [
        "outer run start",
        "inner run start",
        "outer step 1 execute local add_order",
        "inner step 1 execute local add_order",
        "outer step 2 execute remote send_create_ticket",
        "inner step 2 execute remote send_create_ticket",
        "inner run end paused",
        "outer run end paused",
    ]
    headers = broker_publisher.messages[-1].headers
    assert (headers["x-outer"], headers["x-inner"]) == ("seen", "seen")


async def test_an_interceptor_can_replace_a_step_result(injector, broker_pool):
    class Stamp(SagaInterceptor):
        async def run_step(self, input: StepInput, proceed) -> SagaContext:
            context = await proceed(input)
            context["stamped"] = input.index
            return context

    manager = SagaManager(storage=InMemorySagaExecutionRepository(), broker_pool=broker_pool, interceptors=[Stamp()])
    execution = await manager.run(Saga().local_step(add_order).commit(), pause_on_disk=True, autocommit=False)
    assert execution.context["stamped"] == 1 and execution.context["order"] is not None
