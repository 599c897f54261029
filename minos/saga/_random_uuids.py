"""Random (version 4) UUIDs for executions, requests and messages, without a system call for each.

``uuid.uuid4`` reads its 16 random bytes with one ``os.urandom`` call, a ``getrandom`` system call: about a quarter
of its cost on the 2-core virtual machine the benchmarks run on, and every run asks for at least one. :func:`uuid4`
reads the same source 4 KiB at a time and turns each 16 bytes into the integer of the same kind of UUID. It then
fills the UUID's two slots itself: ``UUID(int=...)`` checks and converts what is already valid, which cost 0.7 us of
the 0.9 us of a UUID built from bytes.

A forked child starts with no bytes read (the parent's would repeat there). A test that patches ``uuid.uuid4`` gets
the patched function's UUIDs, as it did with 0.7.0.
"""

from __future__ import annotations

import os
import uuid
from uuid import UUID, SafeUUID

_UUID_BYTES = 16
_BATCH = 256  # UUIDs per read: 4 KiB
_STDLIB_UUID4 = uuid.uuid4
_unused: list[int] = []  # the integers of UUIDs made of random bytes read and not handed out yet

# RFC 4122's variant (bits 10) and version 4 (bits 0100), over the bits they replace, as ``UUID(version=4)`` sets them.
_VARIANT_AND_VERSION_MASK = ~((0xC000 << 48) | (0xF000 << 64))
_VARIANT_AND_VERSION_4 = (0x8000 << 48) | (4 << 76)
_UNKNOWN_SAFETY = SafeUUID.unknown  # what ``UUID.__init__`` sets; bound once (see ``executions.status`` on why)


def uuid4() -> UUID:
    """A random UUID, as ``uuid.uuid4()`` gives."""
    if uuid.uuid4 is not _STDLIB_UUID4:  # patched (by a test)
        return uuid.uuid4()
    try:
        value = _unused.pop()  # atomic: threads never share bytes
    except IndexError:
        value = _read_batch()
    made = object.__new__(UUID)
    # ``UUID`` is immutable through its own ``__setattr__``, hence ``object``'s, as ``UUID.__init__`` does too.
    object.__setattr__(made, "int", value)
    object.__setattr__(made, "is_safe", _UNKNOWN_SAFETY)
    return made


def _read_batch() -> int:
    """Read a batch of random bytes: keep the integers of all but the first UUID, which it returns."""
    batch = os.urandom(_UUID_BYTES * _BATCH)
    _unused.extend(
        int.from_bytes(batch[start : start + _UUID_BYTES], "big") & _VARIANT_AND_VERSION_MASK | _VARIANT_AND_VERSION_4
        for start in range(0, len(batch), _UUID_BYTES)
    )
    return _unused.pop()


if hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
    os.register_at_fork(after_in_child=_unused.clear)
