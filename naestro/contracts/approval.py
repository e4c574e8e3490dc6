"""Human approvals: the policy, the pending request, decisions, outcomes and notifications."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from naestro.contracts.base import Frozen

ApprovalStage = Literal["plan", "answer"]


ApprovalAction = Literal["approve", "reject", "comment"]


class ApprovalPolicy(Frozen):
    """When a task waits for a person (plan before Implement, answer before it is final)."""

    plan: bool = False
    answer: bool = False
    timeout_seconds: int = Field(default=3600, ge=1)
    # escalate: notify again (escalation) and wait one more timeout, then reject
    on_timeout: Literal["reject", "approve", "escalate"] = "reject"


class ApprovalRequest(Frozen):
    """What a waiting task asks approval for; bound to the sha256 of the exact content."""

    stage: ApprovalStage
    content_hash: str
    preview: str = ""
    deadline: datetime
    escalated: bool = False


class ApprovalDecision(Frozen):
    stage: ApprovalStage
    content_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    action: ApprovalAction
    approver: str = Field(min_length=1, max_length=200)
    comment: str = Field(default="", max_length=4000)
    via: Literal["web", "slack", "api", "cli"] = "api"


class ApprovalOutcome(Frozen):
    stage: ApprovalStage
    action: ApprovalAction
    approver: str
    final: bool  # False for a comment: the task still waits


class ApprovalNotice(Frozen):
    """Input of the notification activity (Slack-style incoming webhook)."""

    task_id: str
    request: ApprovalRequest
