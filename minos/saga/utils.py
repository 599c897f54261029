"""Small helpers shared by the engine and the service."""

from __future__ import annotations

from functools import lru_cache
from typing import TypeVar

from minos.common import Config, Inject, MinosImportException, import_module

T = TypeVar("T")


@Inject()
def get_service_name(config: Config) -> str:
    """The name of this microservice, read from its injected Minos config."""
    return config.get_name()


@lru_cache(maxsize=256)
def import_subclass(path: str, base: type[T], error: type[Exception]) -> type[T]:
    """The class a raw document names by import path, which must be a ``base`` subclass; else ``error``.

    Cached: a stored execution names the same few classes once per step, and a class found stays the same."""
    try:
        found = import_module(path)
    except MinosImportException as exc:
        raise error(f"The {path!r} class cannot be imported: {exc}") from exc
    if not isinstance(found, type) or not issubclass(found, base):
        raise error(f"{path!r} is not a {base.__name__} subclass.")
    return found
