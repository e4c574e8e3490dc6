"""A task's input and output: request, budget, spend, result, status view and progress events."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from naestro.contracts.approval import ApprovalRequest
from naestro.contracts.base import Frozen, FrozenInput, TaskKind, TaskStatusName
from naestro.contracts.consensus import ConsensusSummary, JudgeVerdict
from naestro.contracts.ledger import Ledger, RoleSummary
from naestro.contracts.models import ModelCall
from naestro.contracts.plan import SubtaskOf, SubtaskOutcome
from naestro.contracts.sandbox import VerificationReport
from naestro.contracts.text import PromptText
from naestro.contracts.verify import CheckResult, VerifySpec


class Budget(FrozenInput):
    max_tokens: int = Field(default=200_000, ge=1, description="input + output tokens")
    max_usd: float = Field(default=2.0, ge=0.0)
    max_wall_seconds: int = Field(default=1800, ge=1)
    max_refine_rounds: int = Field(default=3, ge=0, le=50)
    # GPU-seconds of local engines (a call's latency x its engine's GPUs); None: unlimited
    max_gpu_seconds: float | None = Field(default=None, ge=0.0)


# The contract's ceiling; api.max_prompt_chars (at most this) is the limit callers meet. A
# prompt this long travels by reference (naestro/payload_store.py), never inline.
MAX_PROMPT_CHARS = 10_000_000


class TaskRequest(FrozenInput):
    prompt: PromptText = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    kind: TaskKind = "general"
    priority: int = Field(default=3, ge=1, le=5, description="1 highest .. 5 lowest")
    budget: Budget = Budget()
    policy: str = Field(default="default", min_length=1, max_length=100)
    tenant: str = Field(default="default", min_length=1, max_length=100)
    # Set on a child task of a plan that fanned out (it follows the parent's plan)
    subtask_of: SubtaskOf | None = None
    # Deterministic checks beyond the judge: user's workspace and tests, maths, JSON schema
    verify: VerifySpec | None = None


class Spend(Frozen):
    input_tokens: int = 0
    output_tokens: int = 0
    usd: float = 0.0
    model_calls: int = 0

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def add(self, call: ModelCall) -> Spend:
        return Spend(
            input_tokens=self.input_tokens + call.input_tokens,
            output_tokens=self.output_tokens + call.output_tokens,
            usd=self.usd + call.cost_usd,
            model_calls=self.model_calls + 1,
        )


class Artifact(Frozen):
    name: str
    kind: Literal["code", "tests", "text"] = "text"
    content: str


class MemoryUse(Frozen):
    """What memory gave a task: cited context, similar past tasks, a budget estimate."""

    citations: list[str] = []
    similar_tasks: list[str] = []
    estimated_tokens: int | None = None
    estimated_usd: float | None = None


class TaskResult(Frozen):
    task_id: str
    status: TaskStatusName
    answer: str = ""
    plan: str = ""
    artifacts: list[Artifact] = []
    verification: VerificationReport | None = None
    verdict: JudgeVerdict | None = None
    rounds: int = 0
    spend: Spend = Spend()
    trace: list[ModelCall] = []
    reason: str = ""
    scripted: bool = False
    output_pii: list[str] = []  # PII types in the answer that the prompt did not hold
    confidence: float | None = None
    roles: list[RoleSummary] = []
    ledger: Ledger | None = None
    consensus: ConsensusSummary | None = None
    memory: MemoryUse | None = None
    subtasks: list[SubtaskOutcome] = []  # every subtask of a plan that fanned out
    checks: list[CheckResult] = []  # deterministic checks (maths, JSON schema, user tests)


class TaskStatusView(Frozen):
    phase: str
    round: int
    status: TaskStatusName
    spend: Spend
    last_score: float | None = None
    pending_approval: ApprovalRequest | None = None
    subtasks: list[SubtaskOutcome] = []  # a plan that fanned out: its subtasks so far


class CancelRequest(Frozen):
    reason: str = "cancelled by user"


TaskEventType = Literal[
    "phase",
    "model_call",
    "verification",
    "approval",
    "status",
    "waiting",
    "subtask",
    "tool_call",  # a model's tool call: its name, allowed or refused, duration, result size
    # a research job's (ResearchWorkflow): an iteration's end, a steering command, a digest
    "iteration",
    "steer",
    "digest",
]


class TaskEvent(Frozen):
    """One entry of a task's progress log (served as server-sent events by the API)."""

    seq: int
    type: TaskEventType
    at: datetime
    data: dict[str, Any] = {}
