"""Storing an execution in parts, so that storing it again writes only what changed: a capability a document store
implements on top of :class:`SagaExecutionRepository`.

A repository that writes the whole document at every pause does work that grows with the steps already run: a saga
of ``N`` steps costs ``N²``. An :class:`IncrementalSagaExecutionRepository` is handed the document of an execution
split into :class:`SagaExecutionParts` (its definition, its state, one text per executed step) with how many leading
steps are unchanged since the revision it builds on, and writes the rest; loading, it returns the parts and the
engine rebuilds the execution, reusing what it parsed before for texts it has seen (a committed definition, the
finished steps of a known saga).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from ...exceptions import SagaExecutionNotStorableException
from .._document_text import document_parts, joined_document
from .._saga_document import check_storable, execution_from_parts
from ..saga import SagaExecution
from .abc import SagaExecutionRepository


@dataclass(frozen=True)
class SagaExecutionParts:
    """The JSON document of an execution in parts: :attr:`document` joins them into exactly the document a whole
    document store keeps (``json.dumps(execution.raw, ensure_ascii=False)``, readable by 0.7.0).

    Each write has a new :attr:`revision`, which the repository stores with the parts and returns with them. The
    first :attr:`unchanged` steps are, text for text, those of revision :attr:`base`: :meth:`first_changed` says
    from which step a write must go on.
    """

    uuid: UUID
    """The execution's uuid."""
    definition: str
    """The text of the saga definition: the same for all the executions of a committed saga."""
    state: str
    """The text of the document but its definition and executed steps: uuid, status, paused step, context, ...,
    and the ``orchestrator`` metadata (messages to send, wake time) that recovery searches."""
    steps: Sequence[str]
    """The text of each executed step, oldest first; a finished step's text changes only when it is compensated."""
    revision: str
    """The identity of this write (or of the write loaded)."""
    unchanged: int = 0
    """How many leading :attr:`steps` are those of revision :attr:`base` (0 when there is none)."""
    base: str | None = None
    """The revision these parts were built on: the one last loaded or stored for this execution object."""

    def first_changed(self, stored_revision: str | None) -> int:
        """The first of :attr:`steps` to write over an execution stored at ``stored_revision`` (``None``: none is
        stored): :attr:`unchanged` if that is :attr:`base`, else 0 (someone else wrote or deleted it since)."""
        return self.unchanged if stored_revision is not None and stored_revision == self.base else 0

    @property
    def document(self) -> str:
        """The whole document text these parts make."""
        return joined_document(self.definition, self.state, self.steps)


class IncrementalSagaExecutionRepository(SagaExecutionRepository, ABC):
    """A repository storing executions as :class:`SagaExecutionParts`. Implementers provide ``_write_parts``,
    ``_read_parts`` and ``_delete``, and keep the texts byte for byte (a text column, not ``jsonb``, which
    reformats them): the engine compares texts to know which steps changed."""

    async def store(self, execution: SagaExecution) -> None:
        """Store ``execution``, writing only the steps that changed since this object was last loaded or stored; a
        value that cannot be stored raises ``SagaExecutionNotStorableException`` before the repository is
        touched."""
        parts = _storable_parts(execution)
        await self._write_parts(parts)
        execution._stored_parts = parts

    async def _load(self, uuid: UUID) -> SagaExecution:
        parts = await self._read_parts(uuid)
        execution = execution_from_parts(parts.definition, parts.state, parts.steps)
        execution._stored_parts = parts
        return execution

    @abstractmethod
    async def _write_parts(self, parts: SagaExecutionParts) -> None:
        """Make ``parts`` the stored execution ``parts.uuid``, at ``parts.revision``: write its definition and state,
        keep its steps before ``parts.first_changed(<the stored revision>)``, write the others and drop any beyond
        ``len(parts.steps)``, all at once (one transaction)."""

    @abstractmethod
    async def _read_parts(self, uuid: UUID) -> SagaExecutionParts:
        """The parts stored under ``uuid``, with their revision (``unchanged`` and ``base`` left out); else
        ``SagaExecutionNotFoundException``."""


def _storable_parts(execution: SagaExecution) -> SagaExecutionParts:
    """The parts of the document of ``execution``, checked as ``storable_document`` checks the whole text, built on
    the parts last loaded or stored for it: only their texts that changed are checked again."""
    try:
        definition, state, steps = document_parts(execution)
    except Exception as exc:
        raise SagaExecutionNotStorableException(exc) from exc
    previous = execution._stored_parts
    unchanged = 0
    if previous is not None:
        for old, new in zip(previous.steps, steps):
            if old != new:
                break
            unchanged += 1
    if previous is None or definition != previous.definition:
        check_storable(definition)
    for text in (state, *steps[unchanged:]):
        check_storable(text)
    base = None if previous is None else previous.revision
    return SagaExecutionParts(execution.uuid, definition, state, tuple(steps), os.urandom(8).hex(), unchanged, base)
