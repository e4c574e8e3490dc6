"""Approvals by web or API: decide on what a task waits for; the inbox of waiting tasks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api import service, views
from api.deps import Approver, GatewayDep, Reader
from api.models import CONFLICT, ERRORS, NOT_FOUND, ApprovalBody, ApprovalInbox, ApprovalResult
from api.validation import JsonRoute
from naestro import names
from naestro.contracts import ApprovalDecision

router = APIRouter(route_class=JsonRoute, tags=["approvals"], responses=ERRORS)
TaskId = Annotated[str, Path(pattern=names.TASK_ID_PATTERN)]


@router.post(
    "/v1/tasks/{task_id}/approval",
    response_model=ApprovalResult,
    responses={**NOT_FOUND, **CONFLICT},
)
async def decide(
    task_id: TaskId, body: ApprovalBody, who: Approver, gw: GatewayDep
) -> ApprovalResult:
    """Approve, reject or comment; refused (409) unless `content_hash` is what waits now."""
    decision = ApprovalDecision(
        stage=body.stage,
        content_hash=body.content_hash,
        action=body.action,
        approver=f"{who.kind}:{who.subject}",
        comment=body.comment,
        via="api",
    )
    outcome = await service.decide(gw, who, task_id, decision)
    return ApprovalResult(task_id=task_id, **outcome.model_dump())


@router.get("/v1/approvals", response_model=ApprovalInbox)
async def inbox(who: Reader, gw: GatewayDep) -> ApprovalInbox:
    """Tasks of the caller's tenant waiting for a decision."""
    return ApprovalInbox(pending=await views.inbox(gw, who))
