"""Approval notifications: a Slack-style incoming webhook with Block Kit buttons.

The buttons carry ``task_id|stage|content_hash``; a click comes back to the API's
``POST /slack/interactions``, which verifies the signature and sends the `approval` update.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from naestro.config.gateway import SlackConfig
from naestro.contracts import ApprovalNotice

log = logging.getLogger(__name__)


def button_value(task_id: str, stage: str, digest: str) -> str:
    return f"{task_id}|{stage}|{digest}"


def block_kit(notice: ApprovalNotice, public_url: str) -> dict[str, Any]:
    """The Block Kit message: what waits, a preview, and approve / reject buttons."""
    req = notice.request
    value = button_value(notice.task_id, req.stage, req.content_hash)
    prefix = "ESCALATED: " if req.escalated else ""
    title = f"{prefix}Task {notice.task_id} needs {req.stage} approval"
    preview = req.preview[:2800] or "(empty)"
    return {
        "text": title,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": f"```{preview}```"}},
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"deadline {req.deadline.isoformat()} · sha256 "
                        f"`{req.content_hash[:12]}` · <{public_url}/|open Naestro>",
                    }
                ],
            },
            {
                "type": "actions",
                "block_id": "naestro_approval",
                "elements": [
                    _button("Approve", "approve", "primary", value),
                    _button("Reject", "reject", "danger", value),
                ],
            },
        ],
    }


def _button(label: str, action: str, style: str, value: str) -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": label},
        "style": style,
        "action_id": action,
        "value": value,
    }


class ApprovalActivities:
    def __init__(self, slack: SlackConfig, public_url: str) -> None:
        self._slack = slack
        self._public_url = public_url.rstrip("/")

    @activity.defn(name="naestro.approvals.notify")
    async def notify(self, notice: ApprovalNotice) -> bool:
        """Post the approval request to the webhook; False when none is configured."""
        url = self._slack.webhook_url()
        if not url:
            return False
        async with httpx.AsyncClient(timeout=10.0) as http:
            reply = await http.post(url, json=block_kit(notice, self._public_url))
        if reply.status_code >= 500 or reply.status_code == 429:
            raise ApplicationError(f"approval webhook answered {reply.status_code}")
        if reply.status_code >= 400:
            # A misconfigured webhook must not fail the task: the web inbox still works.
            log.warning("approval webhook refused the message: HTTP %s", reply.status_code)
            return False
        return True
