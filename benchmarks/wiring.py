"""The dependencies a saga needs to run in a benchmark, wired the same way for 0.7.0 and for this package.

Imported by ``workloads.py`` and ``parity_scenarios.py`` under either interpreter, so it uses only what
``minos-microservice-common``, ``-networks`` and ``-aggregate`` 0.7.0 provide: a config naming the service
``order``, an in-memory broker, and ``minos.aggregate``'s in-memory transaction, event and snapshot repositories
(so callbacks run inside the aggregate transaction scope, as in a real service). Locks are no-ops: every workload
runs in one process.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from minos.aggregate import InMemoryEventRepository, InMemorySnapshotRepository, InMemoryTransactionRepository
from minos.common import Config, DependencyInjector, Lock, LockPool, PoolFactory
from minos.networks import BrokerClientPool, InMemoryBrokerPublisher, InMemoryBrokerSubscriberBuilder

CONFIG = """\
version: 2
name: order
databases:
  saga:
    client: minos.common.testing.MockedDatabaseClient
pools:
  database: minos.common.DatabaseClientPool
"""


class _ProcessLock(Lock):
    """A lock with nothing to coordinate: the benchmark is the only process touching its repositories."""

    async def acquire(self) -> None:
        return None

    async def release(self) -> None:
        return None


class _ProcessLockPool(LockPool):
    """Hands out ``_ProcessLock`` instances, so the aggregate repositories need no lock server."""

    async def _create_instance(self) -> Lock:
        return _ProcessLock("benchmark")

    async def _destroy_instance(self, instance: Lock) -> None:
        return None


async def wire() -> DependencyInjector:
    """Set up and inject the benchmark's dependencies into ``minos.saga``; the caller destroys the injector."""
    config_path = Path(tempfile.mkdtemp(prefix="minos-saga-bench-")) / "config.yml"
    config_path.write_text(CONFIG)
    config = Config(config_path)
    pool_factory = PoolFactory.from_config(
        config, default_classes={"broker": BrokerClientPool, "lock": _ProcessLockPool}
    )
    lock_pool = pool_factory.get_pool("lock")
    publisher = InMemoryBrokerPublisher()
    transactions = InMemoryTransactionRepository(lock_pool=lock_pool)
    events = InMemoryEventRepository(
        broker_publisher=publisher, transaction_repository=transactions, lock_pool=lock_pool
    )
    snapshots = InMemorySnapshotRepository(event_repository=events, transaction_repository=transactions)
    injector = DependencyInjector(
        config, [pool_factory, publisher, InMemoryBrokerSubscriberBuilder(), transactions, events, snapshots]
    )
    import minos.saga

    await injector.wire_and_setup_injections(modules=[minos.saga])
    return injector
