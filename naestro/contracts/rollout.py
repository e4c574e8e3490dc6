"""Rollouts of a new worker version: task outcomes, per-arm and paired statistics, the gate's
rule and its decision. Data only; the arithmetic lives in naestro/gate.py."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from naestro.contracts.base import Frozen

GateAction = Literal["continue", "promote", "rollback", "inconclusive"]
InconclusiveAction = Literal["rollback", "promote", "ask"]


class TaskOutcome(Frozen):
    """One finished task of either arm, as the gate counts it."""

    task_id: str
    passed: bool = Field(description="the task succeeded: verified and accepted")
    failed: bool = Field(
        description="the workflow failed, timed out or was terminated, or ended in an error status"
    )
    score: float | None = Field(default=None, ge=0, le=1, description="the judge's score")
    confidence: float | None = Field(default=None, ge=0, le=1)
    cost_usd: float = Field(default=0.0, ge=0)
    seconds: float = Field(default=0.0, ge=0, description="latency, start to close")


class ArmStats(Frozen):
    """Running sums over one arm's outcomes: enough for rates, means and variances."""

    n: int = Field(default=0, ge=0)
    passes: int = Field(default=0, ge=0)
    failures: int = Field(default=0, ge=0)
    scored: int = Field(default=0, ge=0, description="outcomes with a judge score")
    score_sum: float = 0.0
    score_sq_sum: float = 0.0
    confident: int = Field(default=0, ge=0, description="outcomes with a confidence")
    confidence_sum: float = 0.0
    confidence_sq_sum: float = 0.0
    cost_sum: float = 0.0
    seconds_sum: float = 0.0

    @property
    def pass_rate(self) -> float | None:
        return self.passes / self.n if self.n else None

    @property
    def failure_rate(self) -> float | None:
        return self.failures / self.n if self.n else None

    @property
    def mean_score(self) -> float | None:
        return self.score_sum / self.scored if self.scored else None

    @property
    def mean_confidence(self) -> float | None:
        return self.confidence_sum / self.confident if self.confident else None

    @property
    def mean_cost(self) -> float:
        return self.cost_sum / self.n if self.n else 0.0

    @property
    def mean_seconds(self) -> float:
        return self.seconds_sum / self.n if self.n else 0.0


class PairStats(Frozen):
    """Shadow mode: both versions answered the same prompt. The discordant counts
    (baseline_only, candidate_only) carry all the evidence about the difference (McNemar)."""

    n: int = Field(default=0, ge=0)
    both_pass: int = Field(default=0, ge=0)
    baseline_only: int = Field(default=0, ge=0, description="baseline passed, candidate not")
    candidate_only: int = Field(default=0, ge=0, description="candidate passed, baseline not")
    neither: int = Field(default=0, ge=0)


class GateRule(Frozen):
    """When a rollout promotes or rolls back its candidate (naestro/gate.py explains why)."""

    min_tasks: int = Field(default=800, ge=1, description="no promotion before this many tasks")
    promote_delta: float = Field(
        default=-0.0001,
        ge=-1,
        le=1,
        description="promote when the candidate's pass rate minus the baseline's exceeds this",
    )
    confidence: float = Field(
        default=0.95, gt=0.5, lt=1, description="1 - the rollback error rate over all looks"
    )
    look_every: int = Field(default=200, ge=1, description="candidate tasks between looks")
    max_tasks: int = Field(default=3200, ge=1, description="the last look; then the gate stops")
    on_inconclusive: InconclusiveAction = Field(
        default="rollback", description="what the workflow does when the last look decides nothing"
    )
    failure_tolerance: float = Field(
        default=0.0, ge=0, le=1, description="allowed rise in failure rate, tested for significance"
    )
    score_tolerance: float = Field(
        default=0.05, ge=0, le=1, description="allowed drop of the mean judge score"
    )
    cost_tolerance: float = Field(
        default=0.25, ge=0, description="allowed relative rise of the mean cost"
    )
    latency_tolerance: float = Field(
        default=0.5, ge=0, description="allowed relative rise of the mean latency"
    )

    @model_validator(mode="after")
    def _max_covers_min(self) -> Self:
        if self.max_tasks < self.min_tasks:
            raise ValueError(f"max_tasks ({self.max_tasks}) < min_tasks ({self.min_tasks})")
        return self


class GateDecision(Frozen):
    """One call of the gate. The workflow applies ``on_inconclusive`` to "inconclusive"."""

    action: GateAction
    reason: str = Field(description="one sentence for `naestro rollout status` and the UI")
    look: int = Field(ge=0, description="looks taken, this one included")
    n_baseline: int = Field(default=0, ge=0)
    n_candidate: int = Field(default=0, ge=0)
    delta: float | None = Field(
        default=None, description="candidate pass rate minus baseline's (paired when paired)"
    )
    z: float | None = None
    paired: bool = False
