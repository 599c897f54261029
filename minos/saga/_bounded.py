"""A dict that keeps what was computed lately, with a bound on its size.

The engine keeps a few things it would otherwise compute again and again (parsed headers, the texts of documents,
the values of contexts it wrote). What a process meets is usually few and repeated, but nothing bounds it: when one
of these is full it is emptied, which costs less per use than keeping an order of use, and refills with what is met
next.
"""

from __future__ import annotations

from typing import Dict, TypeVar  # typing.Dict: a generic base class on Python 3.9 too

K = TypeVar("K")
V = TypeVar("V")


class BoundedCache(Dict[K, V]):
    """A ``dict`` of at most ``limit`` entries: :meth:`keep` empties it first when it is full."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        """The most entries it holds."""

    def keep(self, key: K, value: V) -> V:
        """Keep ``value`` under ``key`` (emptying the cache first when it is full) and return it."""
        if len(self) >= self.limit:
            self.clear()
        self[key] = value
        return value
