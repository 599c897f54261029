"""saga_to_mermaid renders definitions as Mermaid flowcharts."""

from __future__ import annotations

from minos.saga import Saga, SagaContext, SagaRequest, saga_to_mermaid
from minos.saga.definitions import saga_to_mermaid as from_definitions


def create(context: SagaContext) -> SagaContext:
    return context


def cancel(context: SagaContext) -> SagaContext:
    return context


def reserve(context: SagaContext) -> SagaRequest:
    return SagaRequest("Reserve")


def release(context: SagaContext) -> SagaRequest:
    return SagaRequest("Release")


def reserved(context: SagaContext, response) -> SagaContext:
    return context


def refused(context: SagaContext, response) -> SagaContext:
    return context


def is_premium(context: SagaContext) -> bool:
    return True


def check(context: SagaContext, limit: int) -> SagaRequest:
    return SagaRequest("Check")


def test_exported_from_both_packages():
    assert saga_to_mermaid is from_definitions


def test_linear_saga():
    saga = Saga().local_step(create).remote_step(reserve).commit()
    assert saga_to_mermaid(saga) == (
        "flowchart TD\n"
        '    start(["start"])\n'
        '    s1["<b>1. local</b><br/>create"]\n'
        '    s2[["<b>2. remote</b><br/>reserve"]]\n'
        "    s1 --> s2\n"
        '    finish(["end"])\n'
        "    start --> s1\n"
        "    s2 --> finish\n"
    )


def test_remote_callbacks_and_compensations():
    saga = (
        Saga()
        .local_step(create)
        .on_failure(cancel)
        .remote_step(reserve)
        .on_success(reserved)
        .on_error(refused)
        .on_failure(release)
        .commit()
    )
    text = saga_to_mermaid(saga)
    assert '    s2[["<b>2. remote</b><br/>reserve<br/>on_success: reserved<br/>on_error: refused"]]' in text
    assert '    s1_undo("compensate 1.<br/>cancel")' in text
    assert '    s1 -. "on failure" .-> s1_undo' in text
    # compensations lead back, newest first, to the rolled-back end
    assert "    s2_undo -.-> s1_undo" in text
    assert "    s1_undo -.-> rolled_back" in text
    assert '    rolled_back(["rolled back"])' in text
    assert text.index("s1 --> s2") < text.index("s2 --> finish")


def test_conditional_branches():
    premium = Saga().local_step(create).commit()
    regular = Saga().remote_step(check, limit=100).commit()
    saga = Saga().conditional_step().if_then(is_premium, premium).else_then(regular).local_step(create).commit()
    text = saga_to_mermaid(saga)
    assert '    s1{"<b>1. conditional</b>"}' in text
    assert '    subgraph s1_if1_box["if is_premium"]' in text
    assert '        s1_if1_1["<b>1. local</b><br/>create"]' in text
    assert '    s1 -- "if is_premium" --> s1_if1_1' in text
    assert '    subgraph s1_else_box["else"]' in text
    assert "check(limit=100)" in text
    assert '    s1 -- "else" --> s1_else_1' in text
    assert "    s1_if1_1 --> s1_join" in text and "    s1_else_1 --> s1_join" in text
    assert "    s1_join --> s2" in text
    assert "rolled_back" not in text


def test_conditional_without_else_goes_straight_to_the_join():
    saga = Saga().conditional_step().if_then(is_premium, Saga().local_step(create).commit()).commit()
    text = saga_to_mermaid(saga)
    assert '    s1 -- "else" --> s1_join' in text
    assert "    s1_join --> finish" in text


def test_labels_are_escaped():
    saga = Saga().local_step(create, note='say "hi" <now>').commit()
    text = saga_to_mermaid(saga)
    assert "#quot;" in text and "#lt;now#gt;" in text
    assert '"hi"' not in text
