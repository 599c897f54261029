"""``python -m minos.saga``: the ``minos-saga`` command line."""

from __future__ import annotations

from .cli import main

main()
