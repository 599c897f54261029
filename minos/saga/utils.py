"""Small helpers shared by the engine and the service."""

from __future__ import annotations

from minos.common import Config, Inject


@Inject()
def get_service_name(config: Config) -> str:
    """The name of this microservice, read from its injected Minos config."""
    return config.get_name()
