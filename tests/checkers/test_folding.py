"""Which checks a task gets, what the API refuses, and checks folded into the report as a
suite that quality and confidence read like tests."""

from __future__ import annotations

import pytest

from naestro import quality
from naestro.checkers.report import fold
from naestro.checkers.select import checks_for
from naestro.checkers.validate import problems
from naestro.confidence import verification_score
from naestro.contracts import JudgeVerdict, VerificationReport
from naestro.contracts import TestCaseResult as Case  # not collected as a test class
from naestro.contracts.verify import CheckResult, VerifySpec

PASSED = CheckResult(checker="math", passed=True, summary="equivalent")
FAILED = CheckResult(checker="json_schema", passed=False, summary="$.a: 1 is not a string")
SCHEMA = {"type": "object", "required": ["a"]}


@pytest.mark.parametrize(
    ("spec", "wanted"),
    [
        (None, []),
        (VerifySpec(), []),
        (VerifySpec(expected_answer="1"), ["math"]),
        (VerifySpec(json_schema=SCHEMA), ["json_schema"]),
        (VerifySpec(expected_answer="1", json_schema=SCHEMA), ["math", "json_schema"]),
        (VerifySpec(checker="math", expected_answer="1", json_schema=SCHEMA), ["math"]),
        (VerifySpec(checker="judge", expected_answer="1"), []),
        (VerifySpec(checker="tests", expected_answer="1"), []),
    ],
)
def test_checks_for(spec: VerifySpec | None, wanted: list[str]) -> None:
    assert checks_for(spec) == wanted


def test_problems_name_their_field() -> None:
    assert problems("math", VerifySpec(expected_answer="\\frac{1}{2}")) == []
    assert problems("math", VerifySpec(checker="math")) == [
        ("expected_answer", "the math checker needs an expected answer")
    ]
    [(field, message)] = problems("general", VerifySpec(json_schema={"type": 1}))
    assert field == "json_schema" and message.startswith("not a valid JSON schema")
    [(field, message)] = problems("general", VerifySpec(json_schema={"x": "y" * 70_000}))
    assert field == "json_schema" and "at most 64000" in message


def test_checks_alone_make_a_report() -> None:
    report = fold(None, [PASSED], None)
    assert report is not None and report.passed and report.backend == "checks"
    assert [(t.name, t.outcome, t.suite) for t in report.tests] == [
        ("check:math", "passed", "checks")
    ]
    assert report.summary == "checks passed: math"
    assert verification_score(report) == 1.0
    assert quality.passed_tests(report)


def test_a_failed_check_fails_the_report_and_shows_the_schema() -> None:
    report = fold(None, [PASSED, FAILED], VerifySpec(json_schema=SCHEMA))
    assert report is not None and not report.passed
    assert report.summary == "json_schema check failed: $.a: 1 is not a string"
    assert '"required"' in report.output  # the refiner sees the schema it missed
    assert verification_score(report) == 0.5
    candidate = quality.failing("answer", [], report)
    assert candidate.quality == 0.25 and not candidate.good_enough(0.0)


def test_checks_join_a_sandbox_report_as_one_more_suite() -> None:
    sandbox = VerificationReport(
        backend="bwrap",
        passed=True,
        exit_code=0,
        tests=[Case(name="test_a", outcome="passed")],
        summary="1 passed",
    )
    merged = fold(sandbox, [FAILED], None)
    assert merged is not None and not merged.passed and merged.backend == "bwrap"
    assert [t.name for t in merged.tests] == ["test_a", "check:json_schema"]
    assert [s.name for s in merged.suites] == ["checks"]
    assert merged.summary.startswith("1 passed; json_schema check failed")
    assert fold(sandbox, [], None) is sandbox


def test_a_run_without_tests_leaves_the_checks_to_decide() -> None:
    no_tests = VerificationReport(backend="bwrap", passed=False, exit_code=quality.PYTEST_NO_TESTS)
    merged = fold(no_tests, [PASSED], None)
    assert merged is not None and merged.passed
    judged = quality.judged("a", [], merged, JudgeVerdict(verdict="accept", score=0.8))
    assert judged.quality == pytest.approx(0.9)  # tested: 0.5 + 0.5 x the judge's score
