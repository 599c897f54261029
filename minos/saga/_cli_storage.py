"""How ``minos-saga`` reaches a service's saga storage: from its ``config.yml``, with errors reported in one line."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TypeVar

import typer
from minos.common import Config, ConnectionException, MinosConfigException
from minos.networks import BrokerPublisher

from ._manager_config import _saga_database, _storage_from_config
from .exceptions import SagaExecutionFormatException, SagaExecutionNotFoundException
from .executions import SagaExecutionLister, SagaExecutionRepository

_T = TypeVar("_T")

Work = Callable[[Config, SagaExecutionRepository], Awaitable[_T]]
"""What a command does with the service's config and open saga storage."""


class CliError(Exception):
    """An error the CLI reports in one line, exiting with ``exit_code``."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code
        """The status ``minos-saga`` exits with."""


def run(config_path: Path, work: Work[_T]) -> _T:
    """Open the storage ``config_path`` names, run ``work`` on it and close it; report errors in one line."""
    try:
        with _importable_service(config_path):
            return asyncio.run(_with_storage(config_path, work))
    except CliError as exc:
        typer.echo(f"minos-saga: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None


def lister(storage: SagaExecutionRepository) -> SagaExecutionLister:
    """The storage as a lister, or a one-line error naming a storage that can list."""
    if not isinstance(storage, SagaExecutionLister):
        raise CliError(
            f"{type(storage).__name__} cannot list executions (it does not implement SagaExecutionLister); "
            "PostgreSqlSagaExecutionRepository can",
            2,
        )
    return storage


def broker_publisher(config: Config) -> BrokerPublisher:
    """The broker publisher the service's config names (``interfaces.broker.publisher.client``)."""
    try:
        publisher_cls = config.get_interface_by_name("broker")["publisher"]["client"]
    except (MinosConfigException, KeyError, TypeError) as exc:
        raise CliError(
            "the config names no broker publisher (interfaces: broker: publisher: client): minos-saga cannot send", 2
        ) from exc
    return publisher_cls.from_config(config)


async def _with_storage(config_path: Path, work: Work[_T]) -> _T:
    async with _storage(config_path) as (config, storage):
        try:
            return await work(config, storage)
        except SagaExecutionNotFoundException as exc:
            raise CliError(f"no such saga execution: {exc}", 4) from exc
        except SagaExecutionFormatException as exc:
            raise CliError(
                f"the execution cannot be read here ({exc}); run minos-saga where the service's saga callbacks import",
                5,
            ) from exc
        except ConnectionException as exc:
            raise CliError(f"the saga storage is unreachable: {exc}", 3) from exc


@asynccontextmanager
async def _storage(config_path: Path) -> AsyncIterator[tuple[Config, SagaExecutionRepository]]:
    if not config_path.is_file():
        raise CliError(f"no config file at {config_path} (pass --config PATH)", 2)
    try:
        config = Config(config_path)
        database = _saga_database(config)
    except MinosConfigException as exc:
        raise CliError(f"{config_path} is not a Minos config: {exc}", 2) from exc
    if not database.get("repository"):
        raise CliError(
            f"{config_path} names no saga storage minos-saga can open: add a 'saga' database with a 'repository' "
            "key (e.g. repository: minos.saga.PostgreSqlSagaExecutionRepository)",
            2,
        )
    try:
        storage = _storage_from_config(config)
    except (ImportError, AttributeError, TypeError, MinosConfigException) as exc:
        raise CliError(f"the saga storage of {config_path} cannot be built: {exc!r}", 2) from exc
    try:
        await storage.setup()
    except ConnectionException as exc:
        raise CliError(f"the saga storage is unreachable: {exc}", 3) from exc
    try:
        yield config, storage
    finally:
        await storage.destroy()


@contextmanager
def _importable_service(config_path: Path) -> Iterator[None]:
    """Stored executions name their callbacks by import path: make the service's modules importable, as they are
    when the service runs from its directory."""
    paths = [str(Path.cwd()), str(config_path.resolve().parent)]
    added = [path for path in paths if path not in sys.path]
    sys.path[:0] = added
    try:
        yield
    finally:
        for path in added:
            sys.path.remove(path)
