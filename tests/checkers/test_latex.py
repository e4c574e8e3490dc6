"""Reading the final answer out of a reply, and LaTeX-ish maths into parser syntax."""

from __future__ import annotations

import time

import pytest

from naestro.checkers.latex import Group, Item, final_answer, problem, read_answer, to_python


@pytest.mark.parametrize(
    ("reply", "text", "source"),
    [
        ("so $x=1$ and \\boxed{\\frac{1}{2}} done", "\\frac{1}{2}", "boxed"),
        ("so \\boxed 5$. done", "5", "boxed"),
        ("Working...\n**Final Answer:** $12$", "$12$", "answer line"),
        ("Working...\nAnswer: 7\nThanks", "7", "answer line"),
        ("Thus the answer is $\\frac{1}{3}$.", "$\\frac{1}{3}$.", "answer is"),
        ("We get $x = 1$ and then $y = 2$. So", "y = 2", "maths"),
        ("first line\n\n  42  \n", "42", "last line"),
    ],
)
def test_the_final_answer_is_found(reply: str, text: str, source: str) -> None:
    found = final_answer(reply)
    assert found is not None and (found.text, found.source) == (text, source)


def test_nothing_to_find() -> None:
    assert final_answer(" \n ") is None


@pytest.mark.parametrize(
    "reply", [" " * 50_000, "\n" * 50_000, "\\(" * 25_000, "$" * 50_000, "answer is " * 5_000]
)
def test_finding_the_answer_stays_fast_on_hostile_text(reply: str) -> None:
    started = time.monotonic()
    final_answer(reply)
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(
    ("latex", "python"),
    [
        ("\\frac{a}{b}", "((a)/(b))"),
        ("\\sqrt{x^{2}}", "sqrt(x**(2))"),
        ("\\sqrt[3]{8}", "root((8),(3))"),
        ("2 \\cdot \\pi", "2 * pi"),
        ("\\left( x \\right)", "( x )"),
        ("x_{12} + \\alpha", "x_12 + alpha"),
        ("\\infty", "oo"),
    ],
)
def test_latex_to_python(latex: str, python: str) -> None:
    assert to_python(latex) == python


def test_structure_sets_tuples_and_equations() -> None:
    assert read_answer("x = 2, x = -3") == Group((Item("2", "x"), Item("-3", "x")), False)
    assert read_answer("(1, 2)") == Group((Item("1"), Item("2")), True)
    assert read_answer("\\{1\\}") == Group((Item("1"),), False)
    assert read_answer("(x+1)^2") == Item("(x+1)**2")
    assert read_answer("1 \\pm 2") == Group((Item("1 + 2"), Item("1 - 2")), False)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "an empty answer"),
        ("x == 3", "'=='"),
        ("'a'", "\"'a'\""),
        ("a; " * 30, "more than 24 answers"),
        ("1" * 70, "over 60 digits"),
        ("x = ", "lacks a side"),
    ],
)
def test_problems_are_said(text: str, reason: str) -> None:
    found = problem(text)
    assert found is not None and reason in found
