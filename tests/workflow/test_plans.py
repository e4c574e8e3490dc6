"""Structured plans, pure: the plan's schema (a DAG), budget shares, what a failed subtask
gets next, a dependent's prompt."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from naestro import plans
from naestro.contracts import Subtask, SubtaskOutcome, SubtaskPolicy, TaskPlan


def _s(sid: str, *deps: str) -> Subtask:
    return Subtask(id=sid, title=f"part {sid}", prompt=f"do {sid}", depends_on=list(deps))


def test_a_plan_is_a_dag_of_known_unique_subtasks() -> None:
    TaskPlan(subtasks=[_s("a"), _s("b", "a"), _s("c", "a", "b")])
    with pytest.raises(ValidationError, match="unique: a repeated"):
        TaskPlan(subtasks=[_s("a"), _s("a")])
    with pytest.raises(ValidationError, match="b depends on unknown z"):
        TaskPlan(subtasks=[_s("a"), _s("b", "z")])
    with pytest.raises(ValidationError, match="a depends on itself"):
        TaskPlan(subtasks=[_s("a", "a")])
    with pytest.raises(ValidationError, match="cycle: a -> c -> b -> a"):
        TaskPlan(subtasks=[_s("a", "c"), _s("b", "a"), _s("c", "b")])
    with pytest.raises(ValidationError, match="id"):
        Subtask(id="has space", title="t", prompt="p")


def test_splits_within_the_policy_bounds() -> None:
    policy = SubtaskPolicy(enabled=True, min_subtasks=2, max_subtasks=3)
    assert not plans.splits(TaskPlan(subtasks=[_s("a")]), policy)
    assert plans.splits(TaskPlan(subtasks=[_s("a"), _s("b")]), policy)
    four = TaskPlan(subtasks=[_s(x) for x in "abcd"])
    assert not plans.splits(four, policy)
    assert "at most 3" in plans.too_long(four, policy)


def test_shares_keep_the_integration_share_and_never_overspend() -> None:
    policy = SubtaskPolicy(integration_share=0.25)
    shares = plans.Shares.of(10_000, 2.0, None, 3, policy)
    assert shares.tokens == 2500 and shares.usd == pytest.approx(0.5)
    assert shares.keep_tokens == 2500
    # Each run gets its share while enough is left beyond the kept share ...
    tokens, usd, gpu = shares.grant(10_000, 2.0, None)
    assert (tokens, gpu) == (2500, None) and usd == pytest.approx(0.5)
    # ... and only what is left beyond it when less (a re-run after others spent theirs).
    tokens, usd, _ = shares.grant(3_000, 0.6, None)
    assert tokens == 500 and usd == pytest.approx(0.1)
    assert shares.grant(2_000, 0.4, None)[0] < 0  # nothing left to give: not run


def test_next_step_follows_the_policy() -> None:
    replan = SubtaskPolicy(on_failure="replan", attempts=2)
    assert plans.next_step("unverified", 1, replan) == "replan"
    assert plans.next_step("unverified", 2, replan) == "report"
    assert plans.next_step("rejected", 1, replan) == "report"  # a person's word is final
    assert plans.next_step("cancelled", 1, replan) == "report"
    assert plans.next_step("failed", 1, SubtaskPolicy(on_failure="retry")) == "retry"
    assert plans.next_step("failed", 1, SubtaskPolicy(on_failure="report")) == "report"


def test_a_dependent_gets_its_prerequisites_results_fenced() -> None:
    done = SubtaskOutcome(id="a", title="part a", status="succeeded", answer="RESULT-A")
    prompt = plans.child_prompt(
        Subtask(id="b", title="b", prompt="do b", acceptance=["uses a"], depends_on=["a"]),
        [done],
    )
    assert prompt.startswith("do b")
    assert "- uses a" in prompt and "RESULT-A" in prompt and "subtask a" in prompt
    summary = plans.summary([done, done.model_copy(update={"id": "c", "status": "skipped"})])
    assert summary.startswith("1 of 2 subtasks did not succeed (c skipped")


def test_the_cli_shows_every_subtask_of_a_result() -> None:
    from rich.console import Console

    from cli.render import result_panel
    from naestro.contracts import TaskResult

    outcomes = [
        SubtaskOutcome(id="a", title="part a", status="unverified", attempts=2, replanned=True),
        SubtaskOutcome(id="b", title="part b", status="skipped", depends_on=["a"]),
    ]
    result = TaskResult(task_id="t", status="unverified", answer="x", subtasks=outcomes)
    console = Console(width=160, record=True)
    console.print(result_panel(result, "http://ui"))
    text = console.export_text()
    assert "Subtasks" in text and "unverified (re-planned)" in text and "skipped" in text
