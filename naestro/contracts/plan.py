"""Structured plans: subtasks with acceptance criteria and dependencies (a DAG), the policy
that decides when and how a task fans out into child tasks, and each subtask's outcome."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from naestro.contracts.base import Frozen, TaskKind

SUBTASK_ID = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"
OnSubtaskFailure = Literal["retry", "replan", "report"]
SubtaskStatusName = Literal[
    "succeeded",
    "unverified",
    "budget_exhausted",
    "cancelled",
    "failed",
    "rejected",
    "skipped",  # a prerequisite did not succeed, so it never ran
]


class Subtask(Frozen):
    id: str = Field(pattern=SUBTASK_ID, description="short and unique within the plan: s1, s2")
    title: str = Field(min_length=1, max_length=200)
    prompt: str = Field(min_length=1, max_length=20_000, description="what to do, on its own")
    acceptance: list[str] = Field(default_factory=list, max_length=12)
    depends_on: list[str] = Field(default_factory=list, max_length=16)
    kind: TaskKind | None = None  # None: the parent task's kind


class TaskPlan(Frozen):
    """The planner's structured reply: a summary, and subtasks when the task splits."""

    summary: str = Field(default="", max_length=8000)
    subtasks: list[Subtask] = Field(default_factory=list, max_length=32)

    @model_validator(mode="after")
    def _a_dag(self) -> TaskPlan:
        ids = [s.id for s in self.subtasks]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"subtask ids must be unique: {', '.join(repeated)} repeated")
        known = set(ids)
        for s in self.subtasks:
            unknown = [d for d in s.depends_on if d not in known]
            if unknown:
                raise ValueError(f"subtask {s.id} depends on unknown {', '.join(unknown)}")
            if s.id in s.depends_on:
                raise ValueError(f"subtask {s.id} depends on itself")
        cycle = _cycle(self.subtasks)
        if cycle:
            raise ValueError(f"subtask dependencies form a cycle: {' -> '.join(cycle)}")
        return self


def _cycle(subtasks: list[Subtask]) -> list[str]:
    """One dependency cycle (its ids, first repeated at the end), or [] for a DAG."""
    deps = {s.id: s.depends_on for s in subtasks}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for dep in deps[node]:
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        state[node] = 2
        path.pop()
        return []

    for s in subtasks:
        if s.id not in state:
            found = visit(s.id)
            if found:
                return found
    return []


class SubtaskPolicy(Frozen):
    """When a task's plan fans out into child tasks, and what a failed subtask gets."""

    enabled: bool = Field(default=False, description="ask the planner for a structured plan")
    min_subtasks: int = Field(default=2, ge=1, description="fewer: the task runs as one")
    max_subtasks: int = Field(default=8, ge=1, le=32, description="a longer plan is refused")
    max_parallel: int = Field(default=4, ge=1, le=32, description="children running at once")
    on_failure: OnSubtaskFailure = Field(
        default="replan",
        description="run it again as it was, re-plan it once with the failure, or report it",
    )
    attempts: int = Field(default=2, ge=1, le=5, description="runs of one subtask, in all")
    integration_share: float = Field(
        default=0.25, gt=0, lt=1, description="budget kept to integrate and verify the whole"
    )


class SubtaskOf(Frozen):
    """Set on a child task: whose subtask it is, and the plan it follows (no planning of
    its own, no fan-out of its own)."""

    parent_id: str = Field(min_length=1, max_length=300)
    subtask_id: str = Field(pattern=SUBTASK_ID)
    plan: str = Field(default="", max_length=40_000)


class SubtaskOutcome(Frozen):
    id: str
    title: str
    status: SubtaskStatusName
    task_id: str = ""  # the last attempt's child workflow id ("" when it never ran)
    attempts: int = 0
    replanned: bool = False
    depends_on: list[str] = []
    answer: str = ""
    reason: str = ""
    tokens: int = 0
    usd: float = 0.0
