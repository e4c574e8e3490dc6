"""The maths checker: is a model's final answer equivalent to the expected one?

Both are read by naestro/checkers/latex.py (the final answer out of the text, LaTeX-ish
syntax to Python-ish, an allow-list of tokens) and parsed by SymPy's parser with implicit
multiplication and application, against a namespace of maths names only. Two expressions
are equivalent when they are identical, when they agree at random points (or, without
free symbols, in value, to a relative 1e-6) and SymPy cannot tell them apart either way,
or when ``simplify(a - b) == 0`` / ``a.equals(b)``; a point where they differ settles it
at once. Equations compare by their sides (``x = 3`` and ``3`` agree); sets of solutions
in any order, tuples in theirs.

Heavy (SymPy) and unbounded in time on hostile input: run it in the check activity, in a
child process with a deadline (activities/checks/), never in workflow code.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import sympy
from sympy.parsing.sympy_parser import (
    convert_xor,
    implicit_multiplication_application,
    parse_expr,
    standard_transformations,
)

from naestro.checkers.latex import Answer, Group, Item, MathSyntaxError, final_answer, read_answer
from naestro.contracts.verify import CheckResult

CHECKER = "math"
TOLERANCE = 1e-6  # relative, for answers compared by value
SAMPLES = 8  # random points tried for expressions with free symbols
MIN_SAMPLES = 3  # points where both are defined, for numeric agreement to count
_TRANSFORMS = (*standard_transformations, implicit_multiplication_application, convert_xor)
_FUNCTIONS = (
    "sqrt root exp log sin cos tan cot sec csc asin acos atan sinh cosh tanh "
    "factorial binomial floor ceiling Abs gamma"
).split()
# What a name in an answer may mean; any other name is a symbol. No builtins: the parser
# evaluates the code it builds, and this namespace is all that code can reach.
_NAMES: dict[str, Any] = {
    "__builtins__": {},
    **{n: getattr(sympy, n) for n in ("Integer", "Float", "Rational", "Symbol", "Function")},
    **{n: getattr(sympy, n) for n in _FUNCTIONS},
    "ln": sympy.log,
    "abs": sympy.Abs,
    "pi": sympy.pi,
    "oo": sympy.oo,
    "E": sympy.E,
    "e": sympy.E,
    "I": sympy.I,
    "i": sympy.I,
}


@dataclass(frozen=True)
class Match:
    equal: bool
    method: str = ""  # how equality was shown: identical, symbolic, numeric


def parse(text: str) -> sympy.Expr:
    """A Python-ish expression (latex.to_python's output) as a SymPy expression."""
    try:
        expr = parse_expr(
            text, local_dict={}, global_dict=dict(_NAMES), transformations=_TRANSFORMS
        )
    except Exception as exc:  # the parser fails in many ways (SyntaxError, TypeError, ...)
        raise MathSyntaxError(f"SymPy cannot parse {text!r}: {type(exc).__name__}") from None
    if not isinstance(expr, sympy.Expr):
        raise MathSyntaxError(f"{text!r} is no expression")
    return expr


def _number(value: sympy.Expr) -> complex | None:
    """A finite complex value, or None (undefined, infinite, not a number)."""
    if not value.is_number or value.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo):
        return None
    try:
        return complex(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _close(a: complex, b: complex) -> bool:
    return abs(a - b) <= TOLERANCE * max(1.0, abs(b))


def _numeric(a: sympy.Expr, b: sympy.Expr) -> bool | None:
    """Whether a and b agree in value (at random points when they have free symbols);
    None when too few points give both a finite value."""
    symbols = sorted(a.free_symbols | b.free_symbols, key=str)
    rng = random.Random(17)  # the same points every time: a check is reproducible
    tries = SAMPLES if symbols else 1
    agreed = 0
    for _ in range(tries):
        point = {s: sympy.Float(rng.uniform(0.3, 2.7), 30) for s in symbols}
        va, vb = _number(a.evalf(30, subs=point)), _number(b.evalf(30, subs=point))
        if va is None or vb is None:
            continue
        if not _close(va, vb):
            return False
        agreed += 1
    return agreed >= min(MIN_SAMPLES, tries) or None


def _symbolic(a: sympy.Expr, b: sympy.Expr) -> bool:
    if sympy.simplify(a - b) == 0:
        return True
    return bool(a.equals(b) is True)


def same(a: sympy.Expr, b: sympy.Expr) -> Match:
    """Whether a and b are the same value (see the module's docstring)."""
    if a == b:
        return Match(True, "identical")
    numeric = _numeric(a, b)
    if numeric is False:
        return Match(False)
    if _symbolic(a, b):
        return Match(True, "symbolic")
    return Match(True, "numeric") if numeric else Match(False)


def _proportional(a: sympy.Expr, b: sympy.Expr) -> Match:
    """Two equations ``a = 0`` and ``b = 0`` with the same solutions: a = k·b, k != 0."""
    if same(a, b).equal:
        return Match(True, "symbolic")
    ratio = sympy.simplify(a / b)
    constant = not ratio.free_symbols and _number(ratio) not in (None, 0)
    return Match(True, "symbolic") if constant else Match(False)


def _equation(answer: Item, expected: Item) -> Match:
    """Items of which at least one is an equation."""
    a_lhs = parse(answer.lhs) if answer.lhs else None
    e_lhs = parse(expected.lhs) if expected.lhs else None
    a_rhs, e_rhs = parse(answer.expr), parse(expected.expr)
    if a_lhs is not None and e_lhs is not None:
        if a_lhs.is_Symbol and e_lhs.is_Symbol:  # x = 3 and x = 1 + 2
            return same(a_rhs, e_rhs) if a_lhs == e_lhs else Match(False)
        return _proportional(a_lhs - a_rhs, e_lhs - e_rhs)
    lhs = a_lhs if a_lhs is not None else e_lhs
    if lhs is None or not lhs.is_Symbol:  # an equation of several terms against a value
        return Match(False)
    return same(a_rhs, e_rhs)  # x = 3 against 3


def _items(answer: Answer, expected: Answer) -> Match:
    if isinstance(answer, Group) and len(answer.items) == 1:
        return _items(answer.items[0], expected)
    if isinstance(expected, Group) and len(expected.items) == 1:
        return _items(answer, expected.items[0])
    if isinstance(answer, Group) and isinstance(expected, Group):
        return _groups(answer, expected)
    if isinstance(answer, Group) or isinstance(expected, Group):
        return Match(False)
    if answer.lhs is None and expected.lhs is None:
        return same(parse(answer.expr), parse(expected.expr))
    return _equation(answer, expected)


def _groups(answer: Group, expected: Group) -> Match:
    """Tuples element by element; else (a set of solutions) any order."""
    if len(answer.items) != len(expected.items):
        return Match(False)
    if answer.ordered and expected.ordered:
        matches = [_items(a, e) for a, e in zip(answer.items, expected.items, strict=True)]
        return _all(matches)
    left = list(answer.items)
    found: list[Match] = []
    for wanted in expected.items:
        hit = next(((i, m) for i, a in enumerate(left) if (m := _items(a, wanted)).equal), None)
        if hit is None:
            return Match(False)
        found.append(hit[1])
        left.pop(hit[0])
    return _all(found)


def _parse_all(answer: Answer) -> None:
    """Parse every expression of ``answer`` (raises MathSyntaxError)."""
    if isinstance(answer, Group):
        for item in answer.items:
            _parse_all(item)
        return
    parse(answer.expr)
    if answer.lhs is not None:
        parse(answer.lhs)


def _all(matches: list[Match]) -> Match:
    if not all(m.equal for m in matches):
        return Match(False)
    weakest = "numeric" if any(m.method == "numeric" for m in matches) else "symbolic"
    identical = all(m.method == "identical" for m in matches)
    return Match(True, "identical" if identical else weakest)


def check(answer_text: str, expected_text: str) -> CheckResult:
    """Whether the final answer in ``answer_text`` is equivalent to ``expected_text``. The
    summary (refine feedback, seen by the models) never shows the expected answer."""
    try:
        expected = read_answer(expected_text)
        _parse_all(expected)
    except MathSyntaxError as exc:
        summary = f"the expected answer cannot be read: {exc}"
        return CheckResult(
            checker=CHECKER, passed=False, summary=summary, details={"error": "expected"}
        )
    final = final_answer(answer_text)
    if final is None:
        summary = "no final answer found: end with it as \\boxed{...} or a line 'Answer: ...'"
        return CheckResult(checker=CHECKER, passed=False, summary=summary)
    details: dict[str, Any] = {
        "answer": final.text,
        "source": final.source,
        "expected": expected_text,
    }
    shown = final.text if len(final.text) <= 200 else final.text[:200] + "…"
    try:
        match = _items(read_answer(final.text), expected)
    except MathSyntaxError as exc:
        summary = (
            f"the final answer {shown!r} (from the {final.source}) cannot be read as "
            f"mathematics: {exc}; give it as \\boxed{{...}}, in LaTeX or plain notation"
        )
        return CheckResult(checker=CHECKER, passed=False, summary=summary, details=details)
    if match.equal:
        summary = (
            f"the final answer {shown!r} is equivalent to the expected answer ({match.method})"
        )
        return CheckResult(
            checker=CHECKER,
            passed=True,
            summary=summary,
            details={**details, "method": match.method},
        )
    summary = f"the final answer {shown!r} (from the {final.source}) is not the expected answer"
    return CheckResult(checker=CHECKER, passed=False, summary=summary, details=details)
