"""Render a :class:`Saga` definition as a Mermaid flowchart.

```python
from minos.saga import saga_to_mermaid

print(saga_to_mermaid(CREATE_ORDER))  # paste into a ```mermaid block
```

The diagram reads top-down:

* ``start`` and ``end`` are stadium nodes; steps appear in their execution order.
* A local step is a rectangle showing its ``on_execute`` callback.
* A remote step is a subroutine box showing the callback that builds the request and, below it, the
  ``on_success`` / ``on_error`` callbacks that receive the reply.
* A conditional step is a decision node; every ``if_then`` alternative is an edge labelled with its
  condition leading to a subgraph holding its inner saga, the ``else_then`` one (or a plain ``else`` edge
  when there is none) leads to the same join point.
* Every step with an ``on_failure`` callback gets a compensation node hanging off it by a dashed edge;
  dashed edges then lead *back* through the compensations of earlier steps (the order ``rollback()``
  runs them in) down to a final ``rolled back`` node.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .steps import ConditionalSagaStep, LocalSagaStep, RemoteSagaStep, SagaStep

if TYPE_CHECKING:
    from .operations import SagaOperation
    from .saga import Saga

__all__ = ["saga_to_mermaid"]


def saga_to_mermaid(saga: Saga) -> str:
    """Render ``saga`` as a Mermaid ``flowchart TD`` (returned without the surrounding code fence)."""
    renderer = _Renderer()
    return renderer.render(saga)


class _Renderer:
    def __init__(self) -> None:
        self.lines: list[str] = ["flowchart TD"]
        self.has_compensations = False

    def render(self, saga: Saga) -> str:
        self.node("start", "start", "([", "])")
        first, last = self.saga(saga, "s", "rolled_back", depth=1)
        self.node("finish", "end", "([", "])")
        self.edge("start", first)
        self.edge(last, "finish")
        if self.has_compensations:
            self.node("rolled_back", "rolled back", "([", "])")
        return "\n".join(self.lines) + "\n"

    def saga(self, saga: Saga, prefix: str, previous_compensation: str, depth: int) -> tuple[str, str]:
        """Render the steps of ``saga``; return its entry and exit node ids."""
        first: str | None = None
        last: str | None = None
        for index, step in enumerate(saga.steps, start=1):
            node_id = f"{prefix}{index}"
            entry, exit_, compensation = self.step(step, node_id, f"{index}.", previous_compensation, depth)
            if compensation is not None:
                previous_compensation = compensation
            if last is None:
                first = entry
            else:
                self.edge(last, entry)
            last = exit_
        if first is None or last is None:  # an empty saga still needs something to point at
            self.node(f"{prefix}0", "(no steps)", "[", "]", depth)
            return f"{prefix}0", f"{prefix}0"
        return first, last

    def step(
        self, step: SagaStep, node_id: str, number: str, previous_compensation: str, depth: int
    ) -> tuple[str, str, str | None]:
        """Render one step; return its entry and exit node ids and its compensation node id (if any)."""
        if isinstance(step, ConditionalSagaStep):
            return (*self.conditional(step, node_id, number, previous_compensation, depth), None)
        if isinstance(step, RemoteSagaStep):
            lines = [f"<b>{number} remote</b>", _describe(step.on_execute_operation)]
            if step.on_success_operation is not None:
                lines.append(f"on_success: {_describe(step.on_success_operation)}")
            if step.on_error_operation is not None:
                lines.append(f"on_error: {_describe(step.on_error_operation)}")
            self.node(node_id, "<br/>".join(lines), "[[", "]]", depth)
        elif isinstance(step, LocalSagaStep):
            label = f"<b>{number} local</b><br/>{_describe(step.on_execute_operation)}"
            self.node(node_id, label, "[", "]", depth)
        else:  # pragma: no cover - a third-party step kind
            self.node(node_id, f"<b>{number}</b> {type(step).__name__}", "[", "]", depth)
            return node_id, node_id, None

        failure = step.on_failure_operation
        if failure is None:
            return node_id, node_id, None
        compensation = f"{node_id}_undo"
        self.has_compensations = True
        self.node(compensation, f"compensate {number}<br/>{_describe(failure)}", "(", ")", depth)
        self.edge(node_id, compensation, dashed=True, label="on failure")
        self.edge(compensation, previous_compensation, dashed=True)
        return node_id, node_id, compensation

    def conditional(
        self, step: ConditionalSagaStep, node_id: str, number: str, previous_compensation: str, depth: int
    ) -> tuple[str, str]:
        self.node(node_id, f"<b>{number} conditional</b>", "{", "}", depth)
        join = f"{node_id}_join"
        for index, alternative in enumerate(step.if_then_alternatives, start=1):
            label = f"if {_describe(alternative.condition)}"
            self.branch(node_id, join, alternative.saga, f"{node_id}_if{index}_", label, previous_compensation, depth)
        if step.else_then_alternative is not None:
            saga = step.else_then_alternative.saga
            self.branch(node_id, join, saga, f"{node_id}_else_", "else", previous_compensation, depth)
        else:
            self.edge(node_id, join, label="else")
        self.node(join, " ", "((", "))", depth)
        return node_id, join

    def branch(
        self,
        decision: str,
        join: str,
        saga: Saga,
        prefix: str,
        label: str,
        previous_compensation: str,
        depth: int,
    ) -> None:
        indent = "    " * depth
        self.lines.append(f'{indent}subgraph {prefix}box["{_escape(label)}"]')
        first, last = self.saga(saga, prefix, previous_compensation, depth + 1)
        self.lines.append(f"{indent}end")
        self.edge(decision, first, label=label)
        self.edge(last, join)

    def node(self, node_id: str, label: str, opening: str, closing: str, depth: int = 1) -> None:
        self.lines.append(f'{"    " * depth}{node_id}{opening}"{_escape(label)}"{closing}')

    def edge(self, source: str, target: str, *, dashed: bool = False, label: str | None = None) -> None:
        if dashed:
            arrow = f'-. "{_escape(label)}" .->' if label else "-.->"
        else:
            arrow = f'-- "{_escape(label)}" -->' if label else "-->"
        self.lines.append(f"    {source} {arrow} {target}")


def _describe(operation: SagaOperation | None) -> str:
    """``callback_name`` plus its parameters, e.g. ``check_fraud(limit=100)``."""
    if operation is None:
        return "(none)"
    name = _callback_name(operation.callback)
    if operation.parameters is not None:
        parameters = ", ".join(f"{key}={value!r}" for key, value in operation.parameters.items())
        name = f"{name}({parameters})"
    return name.replace("<", "#lt;").replace(">", "#gt;")


def _callback_name(callback: Callable) -> str:
    return getattr(callback, "__qualname__", None) or getattr(callback, "__name__", None) or repr(callback)


def _escape(text: str) -> str:
    """Escape what would end a quoted Mermaid label early (keeps the ``<b>``/``<br/>`` markup we add)."""
    return text.replace('"', "#quot;")
