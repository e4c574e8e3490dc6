"""POST /slack/interactions: approve / reject buttons clicked in a Slack-style message."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Header, Request
from pydantic import ValidationError

from api import service, slack
from api.auth import Principal
from api.deps import GatewayDep
from api.models import CONFLICT, Message
from api.validation import JsonRoute
from naestro.contracts import ApprovalDecision

router = APIRouter(route_class=JsonRoute, tags=["slack"])
_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": Message},
    401: {"model": Message},
    403: {"model": Message},
    404: {"model": Message},
    503: {"model": Message},
    **CONFLICT,
}


@router.post("/slack/interactions", response_model=Message, responses=_ERRORS)
async def interactions(
    request: Request,
    gw: GatewayDep,
    timestamp: Annotated[str | None, Header(alias="X-Slack-Request-Timestamp")] = None,
    signature: Annotated[str | None, Header(alias="X-Slack-Signature")] = None,
) -> Message:
    cfg = gw.settings.api.slack
    body = await request.body()
    slack.verify(
        cfg.signing_secret(), timestamp, signature, body, time.time(), cfg.max_skew_seconds
    )
    click = slack.parse_click(body)
    if click.user not in cfg.approvers:
        raise service.ApiError(403, f"Slack user {click.user} is not a configured approver")
    if click.action not in ("approve", "reject") or click.stage not in ("plan", "answer"):
        raise service.ApiError(400, f"unknown action {click.action!r} or stage {click.stage!r}")
    try:
        decision = ApprovalDecision.model_validate(
            {
                "stage": click.stage,
                "content_hash": click.content_hash,
                "action": click.action,
                "approver": f"slack:{click.user}",
                "via": "slack",
            }
        )
    except ValidationError as exc:
        raise service.ApiError(400, f"bad button value: {exc.errors()[0]['msg']}") from None
    assert signature is not None  # verify() checked it
    await slack.claim(gw.pool, signature)
    approver = Principal(subject=click.user, tenant="", scopes=frozenset({"admin"}), kind="slack")
    try:
        await service.decide(gw, approver, click.task_id, decision)
    except Exception:
        await slack.release(gw.pool, signature)  # not applied: a corrected retry may pass
        raise
    return Message(detail=f"{click.action}d {click.stage} of {click.task_id}")
