"""Scripted replies for workflow tests: a small code task whose first draft is wrong."""

from __future__ import annotations

import json
from typing import Any

TESTS = """```python
# file: test_solution.py
from solution import add


def test_adds_small_numbers():
    assert add(2, 3) == 5


def test_adds_negatives():
    assert add(-2, -3) == -5
```"""
BUGGY = """```python
# file: solution.py
def add(a: int, b: int) -> int:
    return a - b
```"""
FIXED = """```python
# file: solution.py
def add(a: int, b: int) -> int:
    return a + b
```"""
PROMPT = "Write add(a, b) returning the sum, with pytest tests."


def verdict(score: float, verdict: str = "accept") -> str:
    return json.dumps({"verdict": verdict, "score": score, "rationale": "scripted review"})


def code_task_rules(judge_score: float = 0.9) -> list[dict[str, Any]]:
    return [
        {"role": "planner", "text": "1. Write add. 2. Test it."},
        {"phase": "implement", "text": BUGGY + "\n\n" + TESTS},
        {"phase": "refine", "text": FIXED + "\n\n" + TESTS},
        {"role": "judge", "text": verdict(judge_score)},
    ]
