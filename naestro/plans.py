"""Structured plans, pure: the plan as text, a child task's prompt and plan, budget shares,
what a failed subtask gets next, and the summary a parent's result gives. TaskWorkflow's
fan-out (workflows/steps/subtasks.py) imports it."""

from __future__ import annotations

import math
from dataclasses import dataclass

from naestro.contracts import (
    Budget,
    Subtask,
    SubtaskOutcome,
    SubtaskPolicy,
    SubtaskStatusName,
    TaskPlan,
)
from naestro.contracts.text import clean_prompt
from naestro.fencing import fence

MAX_PREREQUISITE_CHARS = 6000  # of each prerequisite's answer in a dependent's prompt
MAX_ANSWER_CHARS = 20_000  # of each subtask's answer kept in the parent's result
MIN_SUBTASK_TOKENS = 256  # a share smaller than this runs nothing: reported instead
# Statuses another run may fix; a person's rejection or a cancel is final.
RUN_AGAIN: frozenset[SubtaskStatusName] = frozenset({"unverified", "failed", "budget_exhausted"})


def render(plan: TaskPlan) -> str:
    """The plan as a person (and the implementer) reads it."""
    lines = [plan.summary.strip()] if plan.summary.strip() else []
    for number, s in enumerate(plan.subtasks, 1):
        after = f" (after {', '.join(s.depends_on)})" if s.depends_on else ""
        lines.append(f"{number}. [{s.id}] {s.title}{after}")
        lines.extend(f"   - accept when: {a}" for a in s.acceptance)
    return "\n".join(lines)


def splits(plan: TaskPlan, policy: SubtaskPolicy) -> bool:
    """Whether the plan fans out: enough subtasks, and not more than the policy allows."""
    return policy.min_subtasks <= len(plan.subtasks) <= policy.max_subtasks


def too_long(plan: TaskPlan, policy: SubtaskPolicy) -> str:
    """Why the plan is refused ('' when it is not): more subtasks than the policy allows."""
    if len(plan.subtasks) <= policy.max_subtasks:
        return ""
    return (
        f"the plan has {len(plan.subtasks)} subtasks; at most {policy.max_subtasks} are "
        "allowed: merge related ones"
    )


def child_plan(subtask: Subtask) -> str:
    """A child task's plan: its title and acceptance criteria (it plans nothing itself)."""
    lines = [f"Subtask {subtask.id}: {subtask.title}"]
    lines.extend(f"- accept when: {a}" for a in subtask.acceptance)
    return "\n".join(lines)


def child_prompt(subtask: Subtask, prerequisites: list[SubtaskOutcome]) -> str:
    """A child task's prompt: the subtask, and the results it builds on (fenced)."""
    parts = [subtask.prompt]
    if subtask.acceptance:
        parts.append("Acceptance criteria:\n" + "\n".join(f"- {a}" for a in subtask.acceptance))
    for done in prerequisites:
        answer = done.answer[:MAX_PREREQUISITE_CHARS]
        parts.append(
            f"Result of subtask {done.id} ({done.title}), which this one builds on:\n"
            + fence(answer, f"subtask {done.id} result")
        )
    # Model-made text: a TaskRequest refuses what prompt_problem does (NUL, escapes, ...)
    return clean_prompt("\n\n".join(parts))


@dataclass(frozen=True)
class Shares:
    """Each subtask's share of what the parent had left when it fanned out; the
    integration share stays with the parent to integrate and verify the whole."""

    tokens: int
    usd: float
    gpu_seconds: float | None
    keep_tokens: int  # never handed to a child
    keep_usd: float

    @classmethod
    def of(
        cls,
        tokens_left: int,
        usd_left: float,
        gpu_left: float | None,
        subtasks: int,
        policy: SubtaskPolicy,
    ) -> Shares:
        give = 1 - policy.integration_share
        n = max(1, subtasks)
        return cls(
            tokens=max(0, math.floor(tokens_left * give / n)),
            usd=max(0.0, usd_left * give / n),
            gpu_seconds=None if gpu_left is None else max(0.0, gpu_left * give / n),
            keep_tokens=math.ceil(tokens_left * policy.integration_share),
            keep_usd=usd_left * policy.integration_share,
        )

    def grant(
        self, tokens_left: int, usd_left: float, gpu_left: float | None
    ) -> tuple[int, float, float | None]:
        """One run's budget: its share, or what is left beyond the kept share if less."""
        tokens = min(self.tokens, tokens_left - self.keep_tokens)
        usd = max(0.0, min(self.usd, usd_left - self.keep_usd))
        gpu = None
        if self.gpu_seconds is not None:
            gpu = max(0.0, min(self.gpu_seconds, gpu_left if gpu_left is not None else 0.0))
        return tokens, usd, gpu


def child_budget(
    parent: Budget, tokens: int, usd: float, gpu: float | None, wall_seconds: int
) -> Budget:
    return Budget(
        max_tokens=max(1, tokens),
        max_usd=usd,
        max_wall_seconds=max(1, wall_seconds),
        max_refine_rounds=parent.max_refine_rounds,
        max_gpu_seconds=gpu,
    )


def next_step(status: SubtaskStatusName, attempts: int, policy: SubtaskPolicy) -> str:
    """After a run that did not succeed: "retry", "replan", or "report"."""
    if status not in RUN_AGAIN or attempts >= policy.attempts or policy.on_failure == "report":
        return "report"
    return policy.on_failure


def summary(outcomes: list[SubtaskOutcome]) -> str:
    """One line for the parent's reason: how many subtasks did not succeed, and why."""
    bad = [o for o in outcomes if o.status != "succeeded"]
    if not bad:
        return f"all {len(outcomes)} subtasks succeeded"
    listed = "; ".join(f"{o.id} {o.status}: {o.reason[:120]}" for o in bad)
    return f"{len(bad)} of {len(outcomes)} subtasks did not succeed ({listed})"
