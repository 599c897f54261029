"""Random (version 4) UUIDs for executions, requests and messages, without a system call for each.

``uuid.uuid4`` reads its 16 random bytes with one ``os.urandom`` call, a ``getrandom`` system call: about a quarter
of its cost on the 2-core virtual machine the benchmarks run on, and every run asks for at least one. :func:`uuid4`
reads the same source 4 KiB at a time and builds the same kind of UUID from each 16 bytes.

A forked child starts with no bytes read (the parent's would repeat there). A test that patches ``uuid.uuid4`` gets
the patched function's UUIDs, as it did with 0.7.0.
"""

from __future__ import annotations

import os
import uuid
from uuid import UUID

_UUID_BYTES = 16
_BATCH = 256  # UUIDs per read: 4 KiB
_STDLIB_UUID4 = uuid.uuid4
_unused: list[bytes] = []  # random bytes read and not handed out yet, 16 per item


def uuid4() -> UUID:
    """A random UUID, as ``uuid.uuid4()`` gives."""
    if uuid.uuid4 is not _STDLIB_UUID4:  # patched (by a test)
        return uuid.uuid4()
    try:
        random = _unused.pop()  # atomic: threads never share bytes
    except IndexError:
        random = _read_batch()
    return UUID(bytes=random, version=4)


def _read_batch() -> bytes:
    """Read a batch of random bytes: keep all but the first UUID's, which it returns."""
    batch = os.urandom(_UUID_BYTES * _BATCH)
    _unused.extend(batch[start : start + _UUID_BYTES] for start in range(_UUID_BYTES, len(batch), _UUID_BYTES))
    return batch[:_UUID_BYTES]


if hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
    os.register_at_fork(after_in_child=_unused.clear)
