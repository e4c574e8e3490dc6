"""A task's own examples as tests (naestro/examples.py) and how test scores rank
candidates (naestro/quality.py): pure, plus the generated file run by real pytest."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from activities.sandbox.report import parse_junit
from naestro import contracts, prompts, quality
from naestro.contracts import SandboxFile, VerificationReport
from naestro.examples import (
    EXAMPLES_FILE,
    examples_passed,
    failed_examples,
    task_examples,
    with_examples,
)

PROMPT = '''Complete this function.

```python
def is_even(n: int) -> bool:
    """True when n is even.
    >>> is_even(4)
    True
    >>> is_even(7)
    False
    is_even(10) == True
    is_even(3) => False
    is_even(x) => False
    half(3) ➞ 1.5
    """
```
'''


def test_doctests_and_arrows_of_the_tasks_functions_are_examples() -> None:
    found = [(e.call, e.expected) for e in task_examples(PROMPT)]
    # is_even(x): x is prose, not a value; half() is not a function the task defines.
    assert found == [
        ("is_even(4)", "True"),
        ("is_even(7)", "False"),
        ("is_even(10)", "True"),
        ("is_even(3)", "False"),
    ]


def test_prompt_without_code_or_calls_has_no_examples() -> None:
    assert task_examples("Write a haiku about (x) => y.") == []
    assert task_examples("def f(x):\n    return x\n\nf(2) is about 2") == []


def test_printed_doctest_output_is_compared_as_printed() -> None:
    prompt = "def show(x):\n    '''\n    >>> show(2)\n    <2>\n    '''\n"
    [example] = task_examples(prompt)
    assert (example.call, example.expected, example.literal) == ("show(2)", "<2>", False)


def test_trailing_comment_does_not_break_the_test() -> None:
    prompt = "def f(x):\n    '''\n    >>> round(f([1, 2]), 2) # f(x) = 1 + 2x\n    -0.5\n"
    [example] = task_examples(prompt)
    assert example.call == "round(f([1, 2]), 2)"


def _pytest(tmp_path: Path, files: list[SandboxFile]) -> int:
    for f in files:
        (tmp_path / f.path).write_text(f.content)
    run = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)]
    return subprocess.run(run, capture_output=True, cwd=tmp_path, check=False).returncode


@pytest.mark.parametrize(("body", "passes"), [("n % 2 == 0", True), ("n % 2 == 1", False)])
def test_generated_file_runs_the_examples_against_the_candidate(
    tmp_path: Path, body: str, passes: bool
) -> None:
    code = SandboxFile(path="evens.py", content=f"def is_even(n):\n    return {body}\n")
    files = with_examples([code], task_examples(PROMPT))
    assert [f.path for f in files] == ["evens.py", EXAMPLES_FILE]
    assert "from evens import *" in files[1].content  # the module defining the function
    assert (_pytest(tmp_path, files) == 0) is passes


def test_floats_compare_approximately(tmp_path: Path) -> None:
    prompt = "def third(x):\n    '''third(1) == 0.333\n    '''\n"
    code = SandboxFile(path="solution.py", content="def third(x):\n    return x / 3\n")
    assert _pytest(tmp_path, with_examples([code], task_examples(prompt))) == 1  # > 1e-6 off
    prompt = "def third(x):\n    '''third(1.5) == 0.5\n    '''\n"
    assert _pytest(tmp_path, with_examples([code], task_examples(prompt))) == 0


def test_no_code_means_no_examples_file() -> None:
    assert with_examples([], task_examples(PROMPT)) == []


def _report(outcomes: dict[str, str]) -> VerificationReport:
    tests = [contracts.TestCaseResult(name=n, outcome=o) for n, o in outcomes.items()]  # type: ignore[arg-type]
    passed = all(o == "passed" for o in outcomes.values())
    return VerificationReport(backend="bwrap", passed=passed, exit_code=0, tests=tests)


def test_examples_weigh_more_than_the_models_own_tests() -> None:
    examples_ok = _report(
        {
            "test_task_examples.test_example_1": "passed",
            "test_task_examples.test_example_2": "passed",
            "test_solution.test_a": "failed",
            "test_solution.test_b": "failed",
        }
    )
    own_ok = _report(
        {
            "test_task_examples.test_example_1": "failed",
            "test_task_examples.test_example_2": "failed",
            "test_solution.test_a": "passed",
            "test_solution.test_b": "passed",
        }
    )
    assert examples_passed(examples_ok) == (2, 2)
    assert quality.test_score(examples_ok) == pytest.approx(0.6)
    assert quality.test_score(own_ok) == pytest.approx(0.4)
    assert quality.ranked([own_ok, examples_ok]) == [1, 0]
    assert not quality.passed_tests(examples_ok)


def test_verified_candidate_is_good_enough_without_a_verdict() -> None:
    report = _report({"test_task_examples.test_example_1": "passed"})
    candidate = quality.verified("answer", [], report)
    assert candidate.verdict is None and candidate.good_enough(0.99)
    assert quality.passed_tests(report)
    assert not quality.passed_tests(_report({}))  # nothing ran: nothing verified


def test_a_failing_example_says_what_the_call_returned(tmp_path: Path) -> None:
    code = SandboxFile(path="solution.py", content="def is_even(n):\n    return n % 2 == 1\n")
    for f in with_examples([code], task_examples(PROMPT)):
        (tmp_path / f.path).write_text(f.content)
    junit = tmp_path / "report.xml"
    run = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}"]
    subprocess.run([*run, str(tmp_path)], capture_output=True, cwd=tmp_path, check=False)
    tests = parse_junit(junit.read_bytes())
    assert tests is not None
    report = VerificationReport(backend="bwrap", passed=False, exit_code=1, tests=tests)
    assert failed_examples(report) == [
        "is_even(4) returned False, expected True",
        "is_even(7) returned True, expected False",
        "is_even(10) returned False, expected True",
        "is_even(3) returned True, expected False",
    ]
    feedback = prompts.refine("code", PROMPT, "previous", report, "")[1].content
    assert "These examples from the task fail:" in feedback
    assert "is_even(10) returned False, expected True" in feedback
