"""Local -> cloud fallback never sends raw PII: the cloud provider sees placeholders."""

from __future__ import annotations

from pathlib import Path

from temporalio.client import Client

from naestro.client import start_task
from naestro.contracts import TaskRequest
from tests.consensus.scripts import consensus_settings, panel, panel_roles
from tests.support import running_workers

EMAIL = "alice@example.com"


async def test_cloud_fallback_gets_placeholders(client: Client, tmp_path: Path) -> None:
    cloud = [{"contains": EMAIL, "text": "LEAKED"}, {"text": "Paris. Tell <EMAIL_1>."}]
    scripts = {**panel(), "local": [{"error_status": 503}], "cloud": cloud}
    roles = {**panel_roles(), "proposer": ["local", "cloud"]}
    settings = consensus_settings(
        tmp_path,
        scripts,
        roles,
        consensus={"self_consensus": True, "call_attempts": 1},
        provider_extra={"cloud": {"location": "cloud"}},
    )
    prompt = f"Write to {EMAIL}: what is the capital of France?"
    async with running_workers(client, settings):
        handle = await start_task(
            client, TaskRequest(prompt=prompt), task_queue=settings.queues.orchestrator
        )
        result = await handle.result()

    proposers = [c for c in result.trace if c.role == "proposer"]
    assert {c.provider for c in proposers} == {"cloud"}
    assert "local: failed on this call" in proposers[0].route_reason
    # The cloud provider never saw the address; its placeholder was restored afterwards.
    assert "LEAKED" not in result.answer
    assert result.answer == f"Paris. Tell {EMAIL}."
