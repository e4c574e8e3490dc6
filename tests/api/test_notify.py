"""The approval notification activity (ActivityEnvironment) against loopback webhooks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI, Response
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.approvals import ApprovalActivities
from naestro.config.gateway import SlackConfig
from naestro.contracts import ApprovalNotice, ApprovalRequest
from tests.api.conftest import serve

NOTICE = ApprovalNotice(
    task_id="task-1",
    request=ApprovalRequest(
        stage="answer",
        content_hash="ab" * 32,
        preview="def add(a, b): return a + b",
        deadline=datetime(2030, 1, 1, tzinfo=UTC),
        escalated=True,
    ),
)


def _hook(received: list[dict[str, Any]], status: int) -> FastAPI:
    app = FastAPI()

    @app.post("/hook")
    async def hook(message: dict[str, Any]) -> Response:
        received.append(message)
        return Response(status_code=status)

    return app


async def _notify(url: str | None, monkeypatch: pytest.MonkeyPatch) -> bool:
    if url:
        monkeypatch.setenv("TEST_APPROVAL_WEBHOOK", url)  # environment only
    else:
        monkeypatch.delenv("TEST_APPROVAL_WEBHOOK", raising=False)
    acts = ApprovalActivities(SlackConfig(webhook_url_env="TEST_APPROVAL_WEBHOOK"), "http://x/")
    sent: bool = await ActivityEnvironment().run(acts.notify, NOTICE)
    return sent


async def test_block_kit_message_with_buttons(monkeypatch: pytest.MonkeyPatch) -> None:
    received: list[dict[str, Any]] = []
    async with serve(_hook(received, 200)) as url:
        assert await _notify(f"{url}/hook", monkeypatch) is True
    message = received[0]
    assert message["text"] == "ESCALATED: Task task-1 needs answer approval"
    actions = message["blocks"][-1]["elements"]
    assert [a["action_id"] for a in actions] == ["approve", "reject"]
    assert {a["value"] for a in actions} == {f"task-1|answer|{'ab' * 32}"}
    assert "def add" in message["blocks"][1]["text"]["text"]


async def test_no_webhook_configured_sends_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    assert await _notify(None, monkeypatch) is False


async def test_server_errors_retry_and_client_errors_do_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with serve(_hook([], 503)) as url:
        with pytest.raises(ApplicationError, match="503"):
            await _notify(f"{url}/hook", monkeypatch)
    async with serve(_hook([], 404)) as url:
        assert await _notify(f"{url}/hook", monkeypatch) is False
