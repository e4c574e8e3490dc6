"""Request and response bodies of the HTTP API (the OpenAPI spec is generated from these)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

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
from naestro.contracts.text import PromptText
from naestro.contracts.verify import Checker, WorkspaceSpec

PriorityClass = Literal["interactive", "batch"]
PRIORITY_KEYS: dict[str, int] = {"interactive": 1, "batch": 5}  # Temporal: 1 runs first
ExecutionState = Literal[
    "running", "completed", "failed", "cancelled", "terminated", "continued_as_new", "timed_out"
]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class VerifyCreate(Body):
    """Deterministic checks of the answer (docs/verification.md); the code base to test
    against is ``workspace``, beside this."""

    checker: Checker = Field(
        default="auto",
        description="auto: math when expected_answer is given, json_schema when json_schema "
        "is (code runs its tests besides); math / json_schema: that check; tests: a code "
        "task's tests only; judge: no deterministic check",
    )
    expected_answer: str | None = Field(
        default=None,
        min_length=1,
        max_length=10_000,
        description="the maths answer the final one must equal (LaTeX or plain; "
        "sets, tuples, equations)",
    )
    json_schema: dict[str, Any] | None = Field(
        default=None, description="a JSON Schema (Draft 2020-12) the answer's JSON must match"
    )


class TaskCreate(Body):
    prompt: PromptText = Field(
        min_length=1, description="the task; longer than api.max_prompt_chars: 413"
    )
    kind: TaskKind = "general"
    policy: str = Field(
        default="auto", min_length=1, max_length=100, description="'auto' is the default policy"
    )
    priority: PriorityClass = "interactive"
    budget: Budget | None = None
    workspace: WorkspaceSpec | None = Field(
        default=None,
        description="a code base to verify against: its archive uploaded first (POST /v1/blobs), "
        "its tests (test_command) and dependencies",
    )
    verify: VerifyCreate | None = Field(
        default=None,
        description="deterministic checks of the answer: an expected maths answer, a JSON "
        "schema (a bad schema or an unreadable expected answer: 422)",
    )


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
    # From the task's search attributes and execution (None where it lacks them)
    kind: str | None = None
    policy: str | None = None
    created_at: datetime | None = None
    closed_at: datetime | None = None
    cost_usd: float | None = None
    confidence: float | None = None
    # Why the task's execution ended without completing (failed, terminated, timed out,
    # cancelled): the failure's message and its innermost cause, or the reason given.
    error: str | None = None


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


BreakerState = Literal["open", "closed"]


class EngineView(BaseModel):
    id: str
    engine: str = Field(description="the provider's engine: vllm, llamacpp, replay, ...")
    kind: str | None = Field(default=None, description="a supervised engine's kind (engines:)")
    model: str
    endpoint: str | None = None
    task_queue: str
    gpus: int = 0
    state: str | None = Field(
        default=None, description="as its supervisor last recorded it: starting, ready, ..."
    )
    restarts: int | None = None
    ready: bool | None = Field(
        default=None, description="serves its model now (None: busy, or nothing to probe)"
    )
    detail: str = ""
    breaker: BreakerState | None = Field(
        default=None, description="its circuit breaker, where this process routes calls"
    )


class EngineList(BaseModel):
    engines: list[EngineView]


class ConsoleConfig(BaseModel):
    """What the web page needs to know of the gateway and the caller."""

    tenant: str
    subject: str
    admin: bool
    scopes: list[str]
    namespace: str
    temporal_ui_url: str
    policies: list[str]
    kinds: list[str]
    statuses: list[str]


class Message(BaseModel):
    detail: str


ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": Message, "description": "missing or invalid credentials"},
    403: {"model": Message, "description": "the credential lacks the scope"},
    429: {"model": Message, "description": "rate limited or queues full (see Retry-After)"},
}
NOT_FOUND: dict[int | str, dict[str, object]] = {404: {"model": Message}}
CONFLICT: dict[int | str, dict[str, object]] = {409: {"model": Message}}


def links(param: str, field: str, **targets: tuple[str, str]) -> dict[str, object]:
    """OpenAPI links of a response: the id in its body's ``field`` fills ``param`` of each
    target ``(method, path)``; clients and the stateful fuzzer (tests/api/test_schema.py)
    follow them."""
    return {
        name: {
            "operationRef": "#/paths/" + path.replace("/", "~1") + "/" + method,
            "parameters": {param: f"$response.body#/{field}"},
        }
        for name, (method, path) in targets.items()
    }
