"""Rollouts: what the rollout gate (workflows/rollout.py) is asked, what it is told while it
runs, what it measures and what it shows."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from naestro.contracts.base import Frozen
from naestro.contracts.rollout import ArmStats, GateDecision, GateRule, PairStats

RolloutMode = Literal["canary", "shadow"]
# canary: the candidate takes `percent` of new tasks; shadow: `percent` of new tasks are
# also run on the candidate, whose answers reach no one.
RolloutAction = Literal["promote", "rollback", "abort", "approve", "reject"]
RouteAction = Literal["start", "promote", "rollback", "abort"]
RolloutPhase = Literal[
    "starting", "measuring", "awaiting_approval", "promoted", "rolled_back", "aborted", "failed"
]
ENDED: frozenset[str] = frozenset({"promoted", "rolled_back", "aborted", "failed"})


class RolloutSpec(Frozen):
    deployment: str
    baseline: str = Field(description="the current version's build id when the rollout began")
    candidate: str
    mode: RolloutMode = "canary"
    percent: float = Field(default=10.0, gt=0, le=100)
    rule: GateRule = GateRule()
    interval_seconds: float = Field(default=60.0, gt=0)
    approval: bool = Field(
        default=False, description="a person approves the gate's decision before it applies"
    )
    task_type: str = "naestro.task"
    since: datetime | None = Field(default=None, description="set once the routing changed")
    by: str = ""


class RolloutCommand(Frozen):
    """A person's word to a running gate: promote, roll back or abort now, or approve or
    reject the decision it waits on."""

    action: RolloutAction
    by: str = ""
    reason: str = ""


class RouteChange(Frozen):
    spec: RolloutSpec
    action: RouteAction


class MeasureRequest(Frozen):
    spec: RolloutSpec


class GateStats(Frozen):
    baseline: ArmStats
    candidate: ArmStats
    pairs: PairStats | None = None
    skipped: int = Field(default=0, description="finished tasks that count for neither arm")


class RolloutState(Frozen):
    spec: RolloutSpec
    phase: RolloutPhase = "starting"
    looks: int = 0
    measured: GateStats | None = None
    last: GateDecision | None = None
    pending: Literal["promote", "rollback"] | None = Field(
        default=None, description="the decision waiting for a person's approval"
    )
    reason: str = ""
    updated: datetime | None = None

    @property
    def ended(self) -> bool:
        return self.phase in ENDED


class ShadowTarget(Frozen):
    """Where a client mirrors its share of new tasks during a shadow rollout."""

    deployment: str
    build_id: str
    percent: float
