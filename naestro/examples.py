"""A task's own examples as acceptance tests. Pure (workflows import it).

A code task that shows how its function behaves (``>>> f(2)`` then ``4``, or
``f(2) == 4`` / ``f(2) => 4`` / ``f(2) ➞ 4`` on a line) states its specification more
reliably than tests a model writes for itself. Those examples become one generated pytest
file, run beside every candidate's own tests: a candidate that fails one is wrong by the
task's own words. Only examples whose call names a function the task's code defines and
whose expected value parses are kept; the rest is prose.
"""

from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass

from naestro.contracts import SandboxFile, TestCaseResult, VerificationReport

EXAMPLES_FILE = "test_task_examples.py"
_DEF = re.compile(r"^\s*(?:async\s+)?def\s+([A-Za-z_]\w*)\s*\(", re.M)
_ARROW = re.compile(r"^(?P<call>[A-Za-z_]\w*\(.*\))\s*(?:==>|=>|==|➞|->|→)\s*(?P<want>.+?)\s*$")
MAX_EXAMPLES = 20
_BUILTINS = set(dir(builtins))


@dataclass(frozen=True)
class Example:
    call: str  # a Python expression calling one of the task's functions
    expected: str  # a Python literal, or (doctest) the repr printed
    literal: bool  # expected parses as a literal (compared by value, floats approximately)


def task_examples(prompt: str) -> list[Example]:
    """The examples of ``prompt`` that can be run, in order, each once."""
    functions = set(_DEF.findall(prompt))
    if not functions:
        return []
    found: list[Example] = []
    lines = [line.strip() for line in prompt.splitlines()]
    for i, line in enumerate(lines):
        example = _doctest(lines, i) if line.startswith(">>>") else _arrow(line)
        if example is not None and _calls(example.call, functions) and example not in found:
            found.append(example)
    return found[:MAX_EXAMPLES]


def _doctest(lines: list[str], i: int) -> Example | None:
    call = lines[i][3:].strip()
    j = i + 1
    while j < len(lines) and lines[j].startswith("..."):
        call += "\n" + lines[j][3:].strip()
        j += 1
    # The printed value: its first line, and more while the text is not yet a whole value
    # (a long list), up to a blank line, the next example or the docstring's end.
    wanted: list[str] = []
    while j < len(lines) and lines[j] and not lines[j].startswith(">>>"):
        if lines[j].strip('"').strip("'") == "" or (wanted and _literal(" ".join(wanted))):
            break
        wanted.append(lines[j])
        j += 1
    if not wanted:
        return None
    return _example(call, " ".join(wanted), printed=True)


def _literal(text: str) -> bool:
    try:
        ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False
    return True


def _arrow(line: str) -> Example | None:
    match = _ARROW.match(line.lstrip('\x27"').rstrip(".,;"))
    if match is None:
        return None
    return _example(match["call"], match["want"].rstrip(".,;"), printed=False)


def _example(call: str, expected: str, *, printed: bool) -> Example | None:
    try:  # normalised: a trailing comment would swallow the test's closing parenthesis
        call = ast.unparse(ast.parse(call, mode="eval"))
    except SyntaxError:
        return None
    if _literal(expected):
        return Example(call, expected, literal=True)
    # A doctest's printed output is compared as printed; an arrow's must be a value.
    return Example(call, expected, literal=False) if printed else None


def _calls(expression: str, functions: set[str]) -> bool:
    """Whether ``expression`` calls one of ``functions`` and names nothing else but
    builtins (``is_happy(a)`` is prose: ``a`` is no value)."""
    nodes = list(ast.walk(ast.parse(expression, mode="eval")))
    named = {n.id for n in nodes if isinstance(n, ast.Name)}
    calls = any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in functions
        for n in nodes
    )
    return calls and named <= functions | _BUILTINS


def _module(files: list[SandboxFile], examples: list[Example]) -> str:
    """The candidate's module that defines the examples' functions (``solution`` if none)."""
    names = {
        n.func.id
        for e in examples
        for n in ast.walk(ast.parse(e.call, mode="eval"))
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
    }
    for f in files:
        base = f.path.rsplit("/", 1)[-1]
        if f.path.endswith(".py") and "/" not in f.path and not base.startswith("test_"):
            if names & set(_DEF.findall(f.content)):
                return base[: -len(".py")]
    return "solution"


_HELPERS = """\
import math


def _same(got, want):
    if isinstance(want, float) or isinstance(got, float):
        try:
            return math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-6)
        except TypeError:
            return False
    if isinstance(want, (list, tuple)) and isinstance(got, (list, tuple)):
        return len(got) == len(want) and all(_same(g, w) for g, w in zip(got, want))
    return got == want
"""


def examples_file(files: list[SandboxFile], examples: list[Example]) -> SandboxFile | None:
    """The pytest file that runs ``examples`` against the candidate's code."""
    if not examples:
        return None
    module = _module(files, examples)
    parts = [
        f'"""The task\'s own examples (generated by Naestro)."""\n\nfrom {module} import *  '
        "# noqa: F403\n" + _HELPERS
    ]
    for n, example in enumerate(examples, 1):
        check = (
            f"_same(got, {example.expected})"
            if example.literal
            else f"repr(got) == {example.expected!r}"
        )
        # The failure says what the call returned: the refine prompt quotes it.
        says = f"{example.call!r} + ' returned ' + repr(got) + ', expected ' + {example.expected!r}"
        parts.append(
            f"\ndef test_example_{n}():\n    got = {example.call}\n    assert {check}, {says}\n"
        )
    return SandboxFile(path=EXAMPLES_FILE, content="\n".join(parts))


def with_examples(files: list[SandboxFile], examples: list[Example]) -> list[SandboxFile]:
    """``files`` plus the examples' test file (replacing one of that name), when there are
    examples and code to run them against."""
    extra = examples_file(files, examples) if files else None
    if extra is None:
        return files
    return [f for f in files if f.path != EXAMPLES_FILE] + [extra]


def _mine(report: VerificationReport) -> list[TestCaseResult]:
    stem = EXAMPLES_FILE.removesuffix(".py")
    return [t for t in report.tests if stem in re.split(r"[.:/]+", t.name)]


def examples_passed(report: VerificationReport) -> tuple[int, int]:
    """(passed, run) of the task's examples in ``report``."""
    mine = _mine(report)
    return sum(t.outcome == "passed" for t in mine), len(mine)


def failed_examples(report: VerificationReport) -> list[str]:
    """What each failing example did ("f(2) returned 5, expected 4"), for a refine prompt."""
    lines = [(t.message or t.name).strip() for t in _mine(report) if t.outcome != "passed"]
    return [line.splitlines()[0].removeprefix("AssertionError: ") for line in lines if line]
