"""`naestro run --expect` and `--schema`, as a real subprocess against the test dev
server: the check's outcome in the printed result, and checks that could never run
refused before anything starts."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

from temporalio.client import Client

from tests.support import make_settings, replay_provider, running_workers, write_script
from tests.test_cli import naestro
from tests.workflow.scripts import verdict
from tests.workflow.test_checks import QUESTION, RIGHT


def _run(args: list[str], client: Client, config: str) -> subprocess.CompletedProcess[str]:
    address = client.service_client.config.target_host
    return naestro(args, address=address, config=config)


async def test_run_checks_the_expected_answer(client: Client, tmp_path: Path) -> None:
    rules = [{"role": "judge", "text": verdict(0.9)}, {"text": RIGHT}]
    script = write_script(tmp_path / "s.jsonl", rules)
    settings = make_settings(tmp_path, [replay_provider(script)], {"plan": False})
    args = ["run", QUESTION, "--kind", "math", "--expect", "42"]
    async with running_workers(client, settings):
        done = await asyncio.to_thread(_run, args, client, settings.source)
    assert done.returncode == 0, done.stderr
    assert "succeeded" in done.stdout
    assert "verification [checks]: checks passed: math" in done.stdout


async def test_run_refuses_checks_that_could_never_run(client: Client, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, [replay_provider(write_script(tmp_path / "s", []))])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"type": "nope"}))
    cases = [
        (["--schema", str(bad)], "--schema: not a valid JSON schema (Draft 2020-12) at /type"),
        (["--expect", "\\nope{1}"], "--expect: cannot be read as mathematics"),
    ]
    for extra, message in cases:
        done = await asyncio.to_thread(_run, ["run", "Q", *extra], client, settings.source)
        assert done.returncode == 1
        assert message in done.stderr, done.stderr
