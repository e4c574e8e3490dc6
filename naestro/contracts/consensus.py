"""Deliberation: judge verdicts, critiques, the consensus policy, request, summary and result."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from naestro.contracts.base import Frozen, TaskKind
from naestro.contracts.models import ChatMessage, ModelCall
from naestro.contracts.pii import PiiScanResult

Review = Literal["always", "unverified"]
# How a refine round answers: revise the failing answer with its feedback, or draw a fresh
# implementation (the best answer so far is kept).
RefineMode = Literal["revise", "resample"]


class JudgeVerdict(Frozen):
    verdict: Literal["accept", "revise", "reject"]
    score: float = Field(ge=0.0, le=1.0)
    rationale: str = ""


class ConfidenceWeights(Frozen):
    """Weights of the confidence formula (docs/consensus.md); renormalised over the
    components a result has."""

    agreement: float = Field(default=0.2, ge=0)
    critics: float = Field(default=0.25, ge=0)
    judge: float = Field(default=0.35, ge=0)
    verification: float = Field(default=0.2, ge=0)


class ConsensusPolicy(Frozen):
    """A policy's ``consensus:`` section: which phases deliberate, and how."""

    phases: list[str] = ["implement"]
    proposers: int = Field(default=3, ge=1, le=16)
    self_consensus: bool = Field(
        default=False, description="sample the first proposer provider N times"
    )
    self_temperature: float = Field(default=0.9, ge=0, le=2)
    selection: Literal["synthesize", "tests"] = Field(
        default="synthesize",
        description="code: synthesize the proposals, or take the one its tests rank best",
    )
    adaptive: bool = Field(
        default=False,
        description="code: one proposal first (the policy's temperature); the others only "
        "when it fails verification",
    )
    critics: int = Field(default=2, ge=0, le=16)
    confidence_threshold: float = Field(default=0.6, ge=0, le=1)
    max_rounds: int = Field(default=2, ge=1, le=10)
    on_low_confidence: Literal["round", "human", "accept"] = "round"
    human_review_timeout_seconds: int = Field(default=3600, ge=1)
    call_attempts: int = Field(
        default=2, ge=1, le=10, description="deprecated: routing.call_attempts (moved there)"
    )
    weights: ConfidenceWeights = ConfidenceWeights()


class Choice(Frozen):
    """The judge's pick among proposals their tests could not separate."""

    proposal: int = Field(ge=1, description="1-based number of the best proposal")
    rationale: str = ""


class Issue(Frozen):
    severity: Literal["low", "medium", "high", "critical"]
    description: str


class ProposalReview(Frozen):
    proposal: int = Field(ge=1, description="1-based number of the proposal reviewed")
    issues: list[Issue] = []
    scores: dict[str, float] = Field(description="criterion -> score in 0..1")


class Critique(Frozen):
    """A critic's structured review of every proposal."""

    reviews: list[ProposalReview]


class ConsensusRequest(Frozen):
    task_id: str
    policy: str
    phase: str
    kind: TaskKind = "general"
    task: str  # the task's prompt, as the proposers should see it
    messages: list[ChatMessage]  # the proposers' prompt
    consensus: ConsensusPolicy = ConsensusPolicy()
    pii_mapping: dict[str, str] = {}
    tokens_left: int = 200_000
    usd_left: float = 2.0
    max_output_tokens: int = 2048
    heartbeat_timeout_seconds: int = 30
    priority: int = 3
    # Code tasks: proposals are verified in the sandbox; identical passing outcomes agree.
    sandbox_task_queue: str = ""
    verify_timeout_seconds: int = 60
    tenant: str = "default"
    # The task's scan (the tenant's PII actions, resolved) and its remaining wall time and
    # GPU-seconds: the child's calls follow the same rules as the task's own.
    pii: PiiScanResult | None = None
    deadline: datetime | None = None
    gpu_seconds_left: float | None = None
    stream: bool = False
    call_attempts: int | None = None  # the policy's routing.call_attempts
    review: Review = "always"  # the policy's review: "unverified" skips the judge on passes
    temperature: float = Field(default=0.2, ge=0, le=2)  # the policy's (adaptive's first)


class ConsensusSummary(Frozen):
    confidence: float
    components: dict[str, float] = {}
    rounds: int = 1
    early_exit: str = ""
    proposals: int = 0
    critiques: int = 0
    needs_human_review: bool = False
    human_decision: str = ""


class ConsensusResult(Frozen):
    answer: str
    verdict: JudgeVerdict | None = None
    summary: ConsensusSummary
    proposals: list[str] = []
    critiques: list[Critique] = []
    calls: list[ModelCall] = []


class HumanReview(Frozen):
    decision: Literal["accept", "reject"]
    note: str = ""
