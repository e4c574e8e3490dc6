"""`naestro rollout` as an operator runs it: start a canary, read its status, abort it; and
one clear line for what cannot be done."""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio.client import Client

from naestro import deployments
from tests.rollout.versions import serving, two_versions
from tests.test_cli import naestro


async def test_start_status_abort_and_clear_errors(client: Client, tmp_path: Path) -> None:
    address = client.service_client.config.target_host
    v1, v2 = two_versions(tmp_path)
    name = v1.deploy.name

    async def cli(*args: str) -> tuple[int, str]:
        """In a thread: this test's loop runs the workers that answer the CLI's queries."""
        command = ["rollout", "--deployment", name, *args]
        done = await asyncio.to_thread(naestro, command, address=address, config=v1.source)
        return done.returncode, (done.stdout + done.stderr).strip()

    async def status_shows(line: str) -> str:
        for _ in range(50):  # the gate's first step changes the routing
            code, out = await cli("status")
            if line in out:
                return out
            await asyncio.sleep(0.2)
        raise AssertionError(f"status never showed {line!r}: {out}")

    code, out = await cli("status")
    assert code == 1 and out.startswith(f"error: no worker deployment '{name}'"), out
    async with serving(client, v1) as old, serving(client, v2, sandbox=False):
        await deployments.set_current(client, old)
        code, out = await cli("start", "v9")
        assert code == 1 and "v9" in out and "no workers" in out, out
        code, out = await cli("start", "v2", "--percent", "20", "--by", "ops")
        assert code == 0 and "canary rollout of v2 at 20% started (baseline v1)" in out, out
        code, out = await cli("start", "v2")
        assert code == 1 and "in progress" in out, out
        out = await status_shows(f"deployment {name}: current v1, ramping v2 at 20%")
        assert "rollout canary v2 at 20%: measuring" in out, out
        code, out = await cli("approve")
        assert code == 1 and "no decision waits for approval" in out, out
        code, out = await cli("abort", "--by", "ops", "--reason", "not today")
        assert code == 0 and "aborted" in out and "abort by ops: not today" in out, out
        state = await deployments.require(client, name)
        assert (state.current, state.ramping) == ("v1", None)
