"""The harness's pure parts: problem selection, the solution it checks, the figures."""

from __future__ import annotations

import pytest

from cli.evals import EvalInputError
from cli.harness import report
from cli.harness.problems import check_sample, parse_indices, select, solution_code
from cli.harness.results import ResultRow, summarize
from tests.harness.tiny import ADD, ADD_TESTS, PROBLEMS


def test_indices_and_selection() -> None:
    assert parse_indices("0-2,5,1") == [0, 1, 2, 5]
    assert [p.task_id for p in select(PROBLEMS, "1", None)] == ["Tiny/1"]
    assert [p.task_id for p in select(PROBLEMS, None, 1)] == ["Tiny/0"]
    for bad in ("3-1", "x", "0-9"):
        with pytest.raises(EvalInputError):
            select(PROBLEMS, bad, None)


def test_the_solution_file_is_checked_after_the_prompt() -> None:
    assert (
        solution_code(f"{ADD_TESTS}\n\n{ADD}")
        == "def add(a: int, b: int) -> int:\n    return a + b\n"
    )
    bare = "```python\ndef add(a, b):\n    return a + b\n```"
    assert solution_code(bare) == "def add(a, b):\n    return a + b\n"  # unnamed: solution.py
    assert solution_code(ADD_TESTS) is None and solution_code("no code") is None
    sample = check_sample(PROBLEMS[0], ADD)
    assert sample is not None and sample.completion.startswith("\ndef add(")


def _row(policy: str, task: str, passed: bool, tokens: int) -> ResultRow:
    return ResultRow(policy=policy, task_id=task, passed=passed, output_tokens=tokens)


def test_summary_figures_and_goals() -> None:
    rows = [
        _row("direct", "a", True, 100),
        _row("direct", "b", False, 100),
        _row("single", "a", True, 300),
        _row("single", "b", False, 300),
        _row("self-consensus", "a", True, 500),
        _row("self-consensus", "b", True, 700),
        _row("self-consensus", "c", True, 700),  # not among the problems asked
    ]
    summaries = summarize(rows, ["direct", "single", "self-consensus"], ["a", "b"])
    figures = dict(report.figures(summaries))
    assert figures["direct_pass_at_1_pct"] == 50.0 and figures["single_token_ratio"] == 3.0
    assert figures["self_consensus_gain_points"] == 50.0
    assert figures["self_consensus_token_ratio"] == 6.0
    assert dict(report.goals(summaries)) == {
        "goal_single_at_least_direct": True,
        "goal_self_consensus_plus_5_at_3x_tokens": False,  # 6x the tokens
    }
