"""Module attributes imported on first access, so that importing a package does not load what they need."""

from __future__ import annotations

from importlib import import_module
from typing import Any, Callable, Mapping


def lazy_attributes(package: str, modules: Mapping[str, str]) -> Callable[[str], Any]:
    """Build a module ``__getattr__`` that imports each name of ``modules`` from its (relative) module when first read.

    The PostgreSQL adapter loads aiopg and psycopg2: the packages that export it import it only when someone asks.
    """

    def __getattr__(name: str) -> Any:
        if name in modules:
            return getattr(import_module(modules[name], package), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
