"""The random UUIDs of executions, requests and messages: version 4, never repeated, not even by a forked child."""

from __future__ import annotations

import copy
import os
import pickle
import uuid
from uuid import UUID

import pytest

from minos.saga._random_uuids import uuid4


def test_they_are_random_rfc_4122_uuids_of_version_4():
    made = [uuid4() for _ in range(1_000)]  # several reads of random bytes

    assert all(isinstance(made_uuid, UUID) for made_uuid in made)
    assert {(made_uuid.version, made_uuid.variant) for made_uuid in made} == {(4, uuid.RFC_4122)}
    assert len(set(made)) == len(made)


def test_they_behave_as_uuids_built_by_the_standard_library():
    made = uuid4()
    parsed = UUID(str(made))

    assert (made, hash(made), repr(made), made.bytes, made.is_safe) == (
        parsed,
        hash(parsed),
        repr(parsed),
        parsed.bytes,
        parsed.is_safe,
    )
    assert pickle.loads(pickle.dumps(made)) == made
    assert copy.deepcopy(made) == made
    with pytest.raises(TypeError):
        made.int = 1  # immutable, as any UUID


def test_a_patched_uuid4_of_the_standard_library_is_used(monkeypatch):
    fixed = UUID(int=7)
    monkeypatch.setattr("uuid.uuid4", lambda: fixed)

    assert uuid4() == fixed


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the platform does not fork")
def test_a_forked_child_does_not_hand_out_the_uuids_its_parent_will():
    uuid4()  # the parent has random bytes read and not handed out yet
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe, then leaves at once
        os.write(write_end, b"".join(uuid4().bytes for _ in range(10)))
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        received = pipe.read()
    os.waitpid(child, 0)
    in_child = {UUID(bytes=received[start : start + 16]) for start in range(0, len(received), 16)}

    assert len(in_child) == 10
    assert in_child.isdisjoint(uuid4() for _ in range(10))
