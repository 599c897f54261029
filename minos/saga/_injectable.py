"""minos' ``Injectable`` decorator, keeping the decorated class's docstring.

``Injectable(name)`` returns a subclass of the class it decorates, without a docstring: ``help()`` and
``SagaManager.__doc__`` would show nothing.
"""

from __future__ import annotations

from typing import Callable, TypeVar

from minos.common import Injectable

T = TypeVar("T", bound=type)


def injectable(name: str) -> Callable[[T], T]:
    """``Injectable(name)`` whose class keeps the docstring of the class it decorates."""

    def decorate(cls: T) -> T:
        injectable_cls = Injectable(name)(cls)
        injectable_cls.__doc__ = cls.__doc__
        return injectable_cls

    return decorate
