"""Approvals by web/API and by Slack-style buttons; stale hashes; deadline outcomes."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import httpx

from api.slack import sign
from tests.api.conftest import APPROVER, SLACK_SECRET, Gw
from tests.api.helpers import finished, pending, read_sse, until


def _decision(req: dict[str, Any], action: str, digest: str | None = None) -> dict[str, Any]:
    return {"action": action, "stage": req["stage"], "content_hash": digest or req["content_hash"]}


async def _start(http: httpx.AsyncClient, policy: str) -> str:
    reply = await http.post(
        "/v1/tasks", json={"prompt": f"Approve {uuid.uuid4()}", "policy": policy}
    )
    assert reply.status_code == 202, reply.text
    task_id: str = reply.json()["task_id"]
    return task_id


async def test_web_approval_of_plan_and_answer(gw: Gw, admin_key: str) -> None:
    async with gw.http(admin_key) as http:
        task_id = await _start(http, "approve_both")
        plan = await pending(http, task_id, "plan")
        inbox = (await http.get("/v1/approvals")).json()["pending"]
        stale = await http.post(
            f"/v1/tasks/{task_id}/approval", json=_decision(plan, "approve", "ab" * 32)
        )
        comment = await http.post(f"/v1/tasks/{task_id}/approval", json=_decision(plan, "comment"))
        ok = await http.post(f"/v1/tasks/{task_id}/approval", json=_decision(plan, "approve"))
        answer = await pending(http, task_id, "answer")
        await http.post(f"/v1/tasks/{task_id}/approval", json=_decision(answer, "approve"))
        done = await finished(http, task_id)
        events = await read_sse(http, f"/v1/tasks/{task_id}/events")
    assert plan["preview"] == "1. Think. 2. Answer."
    assert task_id in {p["task_id"] for p in inbox}
    assert stale.status_code == 409 and "stale" in stale.json()["detail"]
    assert comment.status_code == 200 and comment.json()["final"] is False
    assert ok.status_code == 200 and ok.json()["approver"].startswith("key:")
    assert answer["preview"] == "The answer is 42."
    assert done["result"]["status"] == "succeeded"
    approvals = [e["data"]["data"]["event"] for e in events if e["event"] == "approval"]
    assert approvals == ["requested", "comment", "approve", "requested", "approve"]


async def test_web_rejection_ends_the_task(gw: Gw, admin_key: str) -> None:
    async with gw.http(admin_key) as http:
        task_id = await _start(http, "approve_plan")
        plan = await pending(http, task_id, "plan")
        body = {**_decision(plan, "reject"), "comment": "too vague"}
        await http.post(f"/v1/tasks/{task_id}/approval", json=body)
        done = await finished(http, task_id)
    assert done["result"]["status"] == "rejected"
    assert "too vague" in done["result"]["reason"]


async def test_deadline_outcomes(gw: Gw, admin_key: str) -> None:
    async with gw.http(admin_key) as http:
        ids = {p: await _start(http, p) for p in ("timeout_reject", "timeout_approve")}
        escalating = await _start(http, "timeout_escalate")
        results = {p: (await finished(http, t))["result"] for p, t in ids.items()}
        escalated = (await finished(http, escalating))["result"]
        events = await read_sse(http, f"/v1/tasks/{escalating}/events")
    assert results["timeout_reject"]["status"] == "rejected"
    assert "timed out" in results["timeout_reject"]["reason"]
    assert results["timeout_approve"]["status"] == "succeeded"
    assert escalated["status"] == "rejected"
    steps = [e["data"]["data"]["event"] for e in events if e["event"] == "approval"]
    assert steps == ["requested", "escalated", "requested", "timeout"]


def _message_for(gw: Gw, task_id: str) -> dict[str, Any] | None:
    for message in gw.webhook:
        if task_id in message["text"]:
            return message
    return None


def _slack_body(value: str, user: str, action: str = "approve") -> bytes:
    payload = {
        "type": "block_actions",
        "user": {"id": user},
        "actions": [{"action_id": action, "value": value}],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


async def _click(
    http: httpx.AsyncClient, body: bytes, *, secret: str = SLACK_SECRET, skew: int = 0
) -> httpx.Response:
    ts = str(int(time.time()) + skew)
    headers = {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": sign(secret, ts, body),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return await http.post("/slack/interactions", content=body, headers=headers)


async def test_slack_buttons(gw: Gw, admin_key: str) -> None:
    async with gw.http(admin_key) as http, gw.http() as slack:
        task_id = await _start(http, "approve_plan")
        plan = await pending(http, task_id, "plan")
        message = await until(lambda: _async(_message_for(gw, task_id)))
        buttons = message["blocks"][-1]["elements"]
        value = buttons[0]["value"]
        good = _slack_body(value, APPROVER)
        bad_sig = await _click(slack, good, secret="not-the-secret")
        stale_ts = await _click(slack, good, skew=-301)
        outsider = await _click(slack, _slack_body(value, "U0STRANGER"))
        old_plan = f"{task_id}|plan|{'cd' * 32}"
        stale_hash = await _click(slack, _slack_body(old_plan, APPROVER))
        ts = str(int(time.time()))
        headers = {
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": sign(SLACK_SECRET, ts, good),
        }
        applied = await slack.post("/slack/interactions", content=good, headers=headers)
        replayed = await slack.post("/slack/interactions", content=good, headers=headers)
        done = await finished(http, task_id)
    assert [(b["action_id"], b["style"]) for b in buttons] == [
        ("approve", "primary"),
        ("reject", "danger"),
    ]
    assert value == f"{task_id}|plan|{plan['content_hash']}"
    assert bad_sig.status_code == 401 and "signature" in bad_sig.json()["detail"]
    assert stale_ts.status_code == 401 and "stale" in stale_ts.json()["detail"]
    assert outsider.status_code == 403
    assert stale_hash.status_code == 409 and "stale" in stale_hash.json()["detail"]
    assert applied.status_code == 200, applied.text
    assert replayed.status_code == 409 and "replayed" in replayed.json()["detail"]
    assert done["result"]["status"] == "succeeded"


async def _async(value: Any) -> Any:
    return value
