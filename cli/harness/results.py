"""The harness's results: one JSON line per (policy, problem), appended as each finishes,
so a second run skips what is done; and the per-policy figures summed from them. Pure
bookkeeping, no I/O beyond the one file."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from cli.evals import EvalInputError


class ResultRow(BaseModel):
    model_config = ConfigDict(frozen=True)
    policy: str
    task_id: str
    passed: bool
    check: str = ""  # the hidden test's summary, or why nothing was checked
    status: str = ""  # the task's status (Naestro policies) or "answered" (direct)
    input_tokens: int = 0
    output_tokens: int = 0
    usd: float = 0.0
    gpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    model_calls: int = 0
    workflow_id: str = ""  # the Naestro task that answered, for its trace

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class PolicySummary(BaseModel):
    model_config = ConfigDict(frozen=True)
    policy: str
    problems: int
    passed: int
    tokens: int
    output_tokens: int
    usd: float
    gpu_seconds: float
    wall_seconds: float

    @property
    def pass_at_1(self) -> float:
        return self.passed / self.problems if self.problems else 0.0

    @property
    def tokens_per_problem(self) -> float:
        return self.tokens / self.problems if self.problems else 0.0


class ResultsFile:
    """A JSONL file of ResultRows; a row for a (policy, task) already there means done."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[ResultRow] = self._read() if path.exists() else []

    def _read(self) -> list[ResultRow]:
        rows = []
        for number, line in enumerate(self.path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                rows.append(ResultRow.model_validate_json(line))
            except ValidationError as exc:
                raise EvalInputError(f"{self.path}:{number}: not a result: {exc}") from None
        return rows

    def done(self, policy: str) -> set[str]:
        return {r.task_id for r in self.rows if r.policy == policy}

    def append(self, row: ResultRow) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as file:
            file.write(row.model_dump_json() + "\n")
        self.rows.append(row)


def summarize(
    rows: list[ResultRow], policies: list[str], task_ids: list[str]
) -> list[PolicySummary]:
    """Per policy, over the given problems: the last row of each (policy, task) counts."""
    wanted = set(task_ids)
    out = []
    for policy in policies:
        latest = {r.task_id: r for r in rows if r.policy == policy and r.task_id in wanted}
        done = list(latest.values())
        out.append(
            PolicySummary(
                policy=policy,
                problems=len(done),
                passed=sum(r.passed for r in done),
                tokens=sum(r.tokens for r in done),
                output_tokens=sum(r.output_tokens for r in done),
                usd=sum(r.usd for r in done),
                gpu_seconds=sum(r.gpu_seconds for r in done),
                wall_seconds=sum(r.wall_seconds for r in done),
            )
        )
    return out
