"""A task's result assembled from its state: the best candidate, the calls, the consensus.
Pure (TaskWorkflow imports it)."""

from __future__ import annotations

from dataclasses import dataclass

from naestro.confidence import final_confidence
from naestro.contracts import (
    Artifact,
    ConfidenceWeights,
    ConsensusSummary,
    ModelCall,
    SandboxFile,
    Spend,
    TaskResult,
    TaskStatusName,
)
from naestro.ledger import fold, role_summaries
from naestro.parsing import render_files
from naestro.quality import Candidate


def spend_of(calls: list[ModelCall]) -> Spend:
    spend = Spend()
    for call in calls:
        spend = spend.add(call)
    return spend


def artifacts(files: list[SandboxFile]) -> list[Artifact]:
    return [
        Artifact(
            name=f.path,
            kind="tests" if f.path.startswith("test_") else "code",
            content=f.content,
        )
        for f in files
    ]


@dataclass(frozen=True)
class TaskState:
    """What a task has when it ends: the inputs of its result."""

    task_id: str
    plan: str
    draft: str  # the latest answer, kept even before it was evaluated
    best: Candidate | None
    rounds: int
    calls: list[ModelCall]
    consensus: ConsensusSummary | None
    weights: ConfidenceWeights


def task_result(state: TaskState, status: TaskStatusName, reason: str) -> TaskResult:
    best = state.best
    if best is None:
        answer = state.draft
    else:
        answer = render_files(best.files) if best.files else best.answer
    return TaskResult(
        task_id=state.task_id,
        status=status,
        answer=answer,
        plan=state.plan,
        artifacts=artifacts(best.files) if best else [],
        verification=best.report if best else None,
        verdict=best.verdict if best else None,
        rounds=state.rounds,
        spend=spend_of(state.calls),
        trace=list(state.calls),
        reason=reason,
        scripted=any(c.scripted for c in state.calls),
        confidence=final_confidence(
            state.consensus,
            best.verdict if best else None,
            best.report if best else None,
            state.weights,
        ),
        roles=role_summaries(state.calls),
        ledger=fold(state.calls),
        consensus=state.consensus,
        checks=list(best.checks) if best else [],
    )
