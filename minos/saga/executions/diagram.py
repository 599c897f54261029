"""Render an execution as the Mermaid picture of its definition, with its progress marked."""

from __future__ import annotations

from ..definitions import saga_to_mermaid
from .decisions import stopping_decision
from .saga import SagaExecution
from .status import SagaStatus

_CLASSES = {
    "done": "fill:#d9f2d9,stroke:#2e7d32",
    "waiting": "fill:#fff4c2,stroke:#b28704,stroke-width:3px",
    "failed": "fill:#ffd9d9,stroke:#c62828,stroke-width:3px",
    "compensated": "fill:#e3e3e3,stroke:#616161,stroke-dasharray:4",
}


def execution_to_mermaid(execution: SagaExecution) -> str:
    """:func:`saga_to_mermaid` of the execution's definition, its top-level steps styled by where the execution
    stands: ``done`` (finished), ``waiting`` (the paused step), ``failed`` (the step that failed an errored
    execution) and ``compensated`` (a compensation that ran)."""
    marks: dict[str, str] = {}
    for index, step in enumerate(execution.executed_steps, start=1):
        marks[f"s{index}"] = "failed" if step.status.raw.startswith("errored") else "done"
        if step.already_rollback and step.status.raw.startswith("paused"):
            marks[f"s{index}"] = "compensated"  # in flight when an operator compensated the execution
        if step.already_rollback and getattr(step.definition, "on_failure_operation", None) is not None:
            marks[f"s{index}_undo"] = "compensated"
    current = f"s{len(execution.executed_steps) + 1}"
    if execution.paused_step is not None:
        marks[current] = "failed" if execution.paused_step.status.raw.startswith("errored") else "waiting"
    elif (
        execution.status == SagaStatus.Errored
        and stopping_decision(execution.decisions) is None  # an operator stopped it: no step failed
        and len(execution.executed_steps) < len(execution.definition.steps)
    ):
        marks[current] = "failed"
    lines = [saga_to_mermaid(execution.definition).rstrip("\n")]
    lines += [f"    classDef {name} {style}" for name, style in _CLASSES.items() if name in marks.values()]
    lines += [f"    class {node} {name}" for node, name in marks.items()]
    return "\n".join(lines) + "\n"
