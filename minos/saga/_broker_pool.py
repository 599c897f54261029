"""Where the engine takes its broker clients from."""

from __future__ import annotations

from typing import Optional

from minos.common import PoolFactory
from minos.networks import BrokerClientPool


def resolve_broker_pool(
    broker_pool: Optional[BrokerClientPool],  # noqa: UP045
    pool_factory: Optional[PoolFactory],  # noqa: UP045
) -> Optional[BrokerClientPool]:  # noqa: UP045
    """The given broker pool, else the pool factory's ``broker`` pool; None when neither is given. One place decides
    it for the manager and the transaction committer."""
    if broker_pool is None and pool_factory is not None:
        return pool_factory.get_pool("broker")
    return broker_pool
