"""Request and response bodies of the HTTP API (the OpenAPI spec is generated from these)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from naestro.contracts import (
    ApprovalAction,
    ApprovalRequest,
    ApprovalStage,
    Budget,
    Spend,
    TaskKind,
    TaskResult,
    TaskStatusName,
)

PriorityClass = Literal["interactive", "batch"]
PRIORITY_KEYS: dict[str, int] = {"interactive": 1, "batch": 5}  # Temporal: 1 runs first
ExecutionState = Literal[
    "running", "completed", "failed", "cancelled", "terminated", "continued_as_new", "timed_out"
]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TaskCreate(Body):
    prompt: str = Field(min_length=1, description="the task; longer than api.max_prompt_chars: 413")
    kind: TaskKind = "general"
    policy: str = Field(
        default="auto", min_length=1, max_length=100, description="'auto' is the default policy"
    )
    priority: PriorityClass = "interactive"
    budget: Budget | None = None


class TaskView(BaseModel):
    task_id: str
    tenant: str
    state: ExecutionState
    phase: str | None = None
    status: TaskStatusName | None = None
    round: int | None = None
    spend: Spend | None = None
    pending_approval: ApprovalRequest | None = None
    result: TaskResult | None = None
    cached: bool = False
    url: str = ""


class TaskList(BaseModel):
    tasks: list[TaskView]


class ApprovalBody(Body):
    action: ApprovalAction
    stage: ApprovalStage
    content_hash: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of what is approved")
    comment: str = Field(default="", max_length=4000)


class ApprovalResult(BaseModel):
    task_id: str
    stage: ApprovalStage
    action: ApprovalAction
    approver: str
    final: bool


class PendingApproval(BaseModel):
    task_id: str
    request: ApprovalRequest


class ApprovalInbox(BaseModel):
    pending: list[PendingApproval]


class CancelBody(Body):
    reason: str = Field(default="cancelled by user", max_length=1000)


class FeedbackBody(Body):
    kind: Literal["issue", "good", "bad"] = "issue"
    comment: str = Field(default="", max_length=4000)


class FeedbackReceipt(BaseModel):
    id: int
    task_id: str
    kind: str


class Message(BaseModel):
    detail: str


ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": Message, "description": "missing or invalid credentials"},
    403: {"model": Message, "description": "the credential lacks the scope"},
    429: {"model": Message, "description": "rate limited or queues full (see Retry-After)"},
}
NOT_FOUND: dict[int | str, dict[str, object]] = {404: {"model": Message}}
CONFLICT: dict[int | str, dict[str, object]] = {409: {"model": Message}}
