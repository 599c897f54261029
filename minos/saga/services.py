"""The broker handler that resumes sagas with the replies of remote participants."""

from __future__ import annotations

import logging
from typing import Any

from minos.common import Config, Inject, MinosConfigException
from minos.networks import BrokerRequest, EnrouteDecorator, Request, enroute

from .exceptions import SagaExecutionNotFoundException
from .manager import SagaManager
from .messages import SagaResponse

logger = logging.getLogger(__name__)

RECOVERY_CRONTAB = "* * * * *"
"""When :meth:`SagaService.__recover__` runs unless the config's ``saga.recovery`` key says otherwise."""


class SagaService:
    """Routes the ``{service_name}Reply`` broker command to :meth:`__reply__`, which resumes the execution the reply
    answers, storing it again when it pauses.

    A saga that fails is stored and logged, not raised back to the broker, and so is a reply for an execution that
    is no longer stored. Storage and broker faults do propagate, so minos' handler reports them.

    :meth:`__recover__` runs ``SagaManager.recover()`` periodically (every minute, or on the crontab of the config's
    ``saga.recovery`` key; ``null`` turns it off), so messages a crash or a broker failure left unsent are
    published by whichever replica runs it next, and expired reply timeouts and saga deadlines are enforced (see
    ``docs/timeouts.md``). It needs minos' periodic interface, as any periodic handler.
    """

    @Inject()
    def __init__(self, *args: Any, saga_manager: SagaManager, **kwargs: Any):
        self.saga_manager = saga_manager
        """The manager that resumes executions with the replies."""

    @classmethod
    def __get_enroute__(cls, config: Config) -> dict[str, set[EnrouteDecorator]]:
        routes = {cls.__reply__.__name__: {enroute.broker.command(f"{config.get_name()}Reply")}}
        if (crontab := _recovery_crontab(config)) is not None:
            routes[cls.__recover__.__name__] = {enroute.periodic.event(crontab)}
        return routes

    async def __recover__(self, request: Request) -> int:
        """Publish the stored saga messages never confirmed sent, re-send or fail expired waits; returns how many
        messages were published."""
        return await self.saga_manager.recover()

    async def __reply__(self, request: BrokerRequest) -> None:
        response = SagaResponse.from_message(request.raw)
        try:
            await self.saga_manager.run(
                response=response, pause_on_disk=True, raise_on_error=False, return_execution=False
            )
        except SagaExecutionNotFoundException:
            # Finished executions are deleted: this is a duplicated or late reply for one of them.
            logger.warning("Ignored a reply for the %s saga execution, which is not stored.", response.uuid)


def _recovery_crontab(config: Config) -> Any:
    try:
        return config.get_by_key("saga.recovery")
    except MinosConfigException:
        return RECOVERY_CRONTAB
