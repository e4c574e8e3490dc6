"""A shadow rollout on the dev server with real Postgres: a user's task is mirrored to the
candidate version, which answers the same prompt with every side effect suppressed: no
approval notification, no memory write-back, marked as a shadow, not the user's result."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from fastapi import FastAPI, Response
from temporalio.client import Client

from naestro import deployments, rollouts, search
from naestro.client import SHADOW_SUFFIX, start_task, task_handle
from naestro.contracts import TaskRequest
from naestro.contracts.deploy import RolloutCommand, RolloutSpec
from naestro.contracts.rollout import GateRule
from tests.api.conftest import serve
from tests.rollout.versions import (
    PROMPT,
    approve_plan,
    label_of,
    pending_plan,
    serving,
    two_versions,
    wait_phase,
)


@pytest.fixture
async def webhook(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[list[dict[str, Any]]]:
    """A loopback Slack-style webhook receiver; what it received."""
    received: list[dict[str, Any]] = []
    app = FastAPI()

    @app.post("/hook")
    async def hook(message: dict[str, Any]) -> Response:
        received.append(message)
        return Response(status_code=200)

    async with serve(app) as url:
        monkeypatch.setenv("TEST_SHADOW_WEBHOOK", f"{url}/hook")
        yield received


async def test_shadow_task_has_no_side_effects(
    client: Client,
    tmp_path: Path,
    url_env: str,
    conn: asyncpg.Connection,
    webhook: list[dict[str, Any]],
) -> None:
    sections: dict[str, Any] = {
        "memory": {"enabled": True, "database_url_env": url_env, "write_back_scripted": True},
        "api": {"slack": {"webhook_url_env": "TEST_SHADOW_WEBHOOK"}},
    }
    v1, v2 = two_versions(tmp_path, **sections)
    name = v1.deploy.name
    queue = v1.queues.orchestrator
    async with serving(client, v1) as old, serving(client, v2, sandbox=False, memory=False):
        await deployments.set_current(client, old)
        shadow = RolloutSpec(
            deployment=name, baseline="v1", candidate="v2", mode="shadow", percent=100,
            rule=GateRule(min_tasks=50, look_every=50, max_tasks=50), interval_seconds=1,
        )  # fmt: skip
        await rollouts.start(client, shadow, queue)
        await wait_phase(client, name, "measuring")
        rollouts.forget_shadow_targets()

        request = TaskRequest(prompt=PROMPT, kind="code", policy="held")
        primary = await start_task(client, request, task_queue=queue, deployment=name)
        mirror = task_handle(client, primary.id + SHADOW_SUFFIX)
        await approve_plan(primary, await pending_plan(primary))  # the user's; asked once
        user, copy = await primary.result(), await mirror.result()

        assert label_of(user) == "v1" and user.status == "succeeded"
        assert label_of(copy) == "v2" and copy.status == "succeeded"  # the same prompt
        attrs = (await mirror.describe()).typed_search_attributes
        assert attrs.get(search.SHADOW) is True
        assert len(webhook) == 1 and primary.id in webhook[0]["text"]
        stored = await conn.fetch("SELECT task_id FROM tasks")
        assert {r["task_id"] for r in stored} == {primary.id}  # the shadow kept nothing

        final = await rollouts.command(client, name, RolloutCommand(action="abort", by="t"))
        assert final.phase == "aborted"
