"""`naestro run` shows each role's provider, tokens, cost and latency, and the confidence."""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio.client import Client

from tests.consensus.scripts import TASK, consensus_settings, panel, panel_roles
from tests.support import running_workers
from tests.test_cli import naestro


async def test_run_shows_roles_and_confidence(client: Client, tmp_path: Path) -> None:
    settings = consensus_settings(tmp_path, panel(), panel_roles())
    address = client.service_client.config.target_host
    async with running_workers(client, settings):
        done = await asyncio.to_thread(
            naestro,
            ["run", TASK],
            address=address,
            config=settings.source,
        )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Roles" in out
    for role, providers in [
        ("proposer", "p1, p2, p3"),
        ("critic", "c1, c2"),
        ("synthesizer", "synth"),
        ("judge", "judge"),
    ]:
        rows = [x for x in out.splitlines() if f" {role} " in x and providers in x]
        assert rows, out
    assert "confidence: " in out
    assert "consensus: 3 proposals, 2 critiques, 1 round(s), confidence" in out
