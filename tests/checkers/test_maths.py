"""The maths checker: right, wrong, and equivalent-but-different forms; the final answer
found in a model's reply; answers it cannot read, said plainly."""

from __future__ import annotations

import pytest

from naestro.checkers.maths import check

EQUIVALENT = [
    ("\\boxed{\\frac{2}{4}}", "1/2"),
    ("Answer: 0.5", "\\frac{1}{2}"),
    ("Answer: \\frac12", "0.5"),
    ("so the answer is $x^2+2x+1$", "(x+1)^2"),
    ("\\boxed{2\\sqrt{2}}", "sqrt(8)"),
    ("\\boxed{2\\sqrt2}", "\\sqrt{8}"),
    ("Answer: \\dfrac{\\sqrt{3}}{2}", "sqrt(3)/2"),
    ("Answer: x(x+1)", "x^2 + x"),
    ("Answer: 2\\pi r", "2 \\cdot \\pi \\cdot r"),
    ("Answer: \\sin^2 x + \\cos^2 x", "1"),
    ("Answer: e^{i\\pi}", "-1"),
    ("Answer: 3 + 2i", "3+2I"),
    ("Answer: \\sqrt[3]{27}", "3"),
    ("Answer: 10!", "3628800"),
    ("Answer: 2^{10}", "1024"),
    ("Answer: \\binom{5}{2}", "10"),
    ("Answer: \\ln(e^2)", "2"),
    ("Answer: 1,000", "1000"),
    ("Answer: 45^\\circ", "45"),
    ("Answer: 5\\text{ cm}", "5"),
    ("Answer: 0.333333", "1/3"),  # a decimal to six places: within the tolerance
    ("Answer: \\theta_1 + 1", "1 + \\theta_{1}"),
    ("Answer: \\lambda^2", "\\lambda \\cdot \\lambda"),
]
SETS_AND_EQUATIONS = [
    ("Final answer: x = 2, x = -3", "-3, 2"),
    ("The roots: $x=-3$, $x=2$.\nAnswer: x = -3 or x = 2", "\\{2, -3\\}"),
    ("Answer: 1 \\pm \\sqrt{2}", "1+sqrt(2), 1-sqrt(2)"),
    ("Answer: x = 3", "3"),
    ("Answer: 3", "x = 3"),
    ("Answer: 2x + 2y = 4", "x + y = 2"),
    ("Answer: (1, 2)", "(1, 2)"),
    ("Answer: $\\left(\\frac{1}{2}, 3\\right)$", "(0.5, 3)"),
    ("Answer: \\{(1, 2), (3, 4)\\}", "{(3, 4), (1, 2)}"),
]
WRONG = [
    ("\\boxed{41}", "42"),
    ("Answer: 0.33", "1/3"),
    ("Answer: x^2 + 2x", "(x+1)^2"),
    ("Answer: (1, 2)", "(2, 1)"),  # a tuple keeps its order
    ("Answer: y = 3", "x = 3"),
    ("Answer: x = 2", "x = 2, x = -3"),  # one root of two
    ("Answer: -3, 2, 4", "2, -3"),
    ("Answer: \\sqrt{2}", "1.41"),
]


@pytest.mark.parametrize(("answer", "expected"), EQUIVALENT + SETS_AND_EQUATIONS)
def test_equivalent_forms_pass(answer: str, expected: str) -> None:
    result = check(answer, expected)
    assert result.passed, result.summary
    assert result.checker == "math"
    assert result.details["method"] in ("identical", "symbolic", "numeric")


@pytest.mark.parametrize(("answer", "expected"), WRONG)
def test_wrong_answers_fail_without_showing_the_expected_one(answer: str, expected: str) -> None:
    result = check(answer, expected)
    assert not result.passed
    assert "is not the expected answer" in result.summary
    assert expected not in result.summary
    assert result.details["expected"] == expected  # for the person who asked, not a model


def test_the_method_says_how_equality_was_shown() -> None:
    assert check("\\boxed{42}", "42").details["method"] == "identical"
    assert check("\\boxed{(x+1)^2}", "x^2+2x+1").details["method"] == "symbolic"
    assert check("\\boxed{0.3333333}", "1/3").details["method"] == "numeric"


def test_the_boxed_answer_wins_over_later_text() -> None:
    reply = "Working: 6 * 7 = 42, so \\boxed{42}.\nAnswer: 41"
    result = check(reply, "42")
    assert result.passed and result.details["source"] == "boxed"


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("Answer: __import__('os').system('true')", "unsupported symbol"),
        ("Answer: x.__class__", "unsupported symbol '.'"),
        ("Answer: lambda: 1", "unsupported symbol 'lambda'"),
        ("Answer: \\foo{1}", "unsupported LaTeX command \\foo"),
        ("Answer: (1 + 2", "unbalanced brackets"),
        ("Answer: " + "(" * 50 + "1" + ")" * 50, "nested over"),
        ("Answer: " + "1+" * 600 + "1", "at most 1000 are read"),
    ],
)
def test_unreadable_answers_fail_with_a_clear_summary(answer: str, reason: str) -> None:
    result = check(answer, "1")
    assert not result.passed
    assert "cannot be read as mathematics" in result.summary and reason in result.summary


def test_no_answer_at_all() -> None:
    result = check("   \n  ", "1")
    assert not result.passed and "no final answer found" in result.summary


def test_an_unreadable_expected_answer_is_the_checks_fault_not_the_models() -> None:
    result = check("\\boxed{1}", "1 +* 2")
    assert not result.passed
    assert result.summary.startswith("the expected answer cannot be read")
    assert result.details == {"error": "expected"}
