"""The broker handler that resumes sagas with the replies of remote participants."""

from __future__ import annotations

import logging

from minos.common import Config, Inject
from minos.networks import BrokerRequest, EnrouteDecorator, enroute

from .exceptions import SagaExecutionNotFoundException
from .manager import SagaManager
from .messages import SagaResponse

logger = logging.getLogger(__name__)


class SagaService:
    """Routes the ``{service_name}Reply`` broker command to :meth:`__reply__`, which resumes the execution the reply
    answers, storing it again when it pauses.

    A saga that fails is stored and logged, not raised back to the broker, and so is a reply for an execution that
    is no longer stored. Storage and broker faults do propagate, so minos' handler reports them.
    """

    @Inject()
    def __init__(self, *args, saga_manager: SagaManager, **kwargs):
        self.saga_manager = saga_manager

    @classmethod
    def __get_enroute__(cls, config: Config) -> dict[str, set[EnrouteDecorator]]:
        return {cls.__reply__.__name__: {enroute.broker.command(f"{config.get_name()}Reply")}}

    async def __reply__(self, request: BrokerRequest) -> None:
        response = SagaResponse.from_message(request.raw)
        try:
            await self.saga_manager.run(
                response=response, pause_on_disk=True, raise_on_error=False, return_execution=False
            )
        except SagaExecutionNotFoundException:
            # Finished executions are deleted: this is a duplicated or late reply for one of them.
            logger.warning("Ignored a reply for the %s saga execution, which is not stored.", response.uuid)
