"""`naestro eval humaneval` as a real subprocess against workers on the test dev server."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.client import Client

from cli.evals import load_problems
from tests.sandbox.test_humaneval import ROOT, humaneval_path, sandbox_settings
from tests.support import running_workers

pytestmark = pytest.mark.timeout(180)


def _naestro(args: list[str], client: Client, config: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "NAESTRO_CONFIG": config,
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )


async def naestro(args: list[str], client: Client, config: str) -> subprocess.CompletedProcess[str]:
    # In a thread: the workers under test run on this event loop.
    return await asyncio.to_thread(_naestro, args, client, config)


def _problems_file(tmp_path: Path) -> tuple[Path, Path]:
    """Three HumanEval problems (.jsonl.gz) and samples: one right, one wrong per task."""
    problems = load_problems(humaneval_path())[:3]
    path = tmp_path / "three.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as file:
        file.writelines(p.model_dump_json() + "\n" for p in problems)
    samples = tmp_path / "samples.jsonl"
    lines = []
    for p in problems:
        lines.append({"task_id": p.task_id, "completion": p.canonical_solution})
        lines.append({"task_id": p.task_id, "completion": "    return None\n"})
    samples.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path, samples


async def test_eval_prints_each_task_and_the_totals(client: Client, tmp_path: Path) -> None:
    problems, samples = _problems_file(tmp_path)
    settings = sandbox_settings(tmp_path, "bwrap")
    async with running_workers(client, settings):
        canonical = await naestro(["eval", "humaneval", str(problems)], client, settings.source)
        mixed = await naestro(
            ["eval", "humaneval", str(problems), "--samples", str(samples), "--backend", "docker"],
            client,
            settings.source,
        )
    assert canonical.returncode == 0, canonical.stderr
    assert canonical.stdout.count("PASS HumanEval/") == 3
    assert "passed 3/3 (100.0%) on bwrap" in canonical.stdout
    assert mixed.returncode == 0, mixed.stderr  # failing samples are results, not errors
    assert mixed.stdout.count("PASS ") == 3 and mixed.stdout.count("FAIL ") == 3
    assert "passed 3/6 (50.0%) on docker" in mixed.stdout


async def test_eval_refuses_bad_input_clearly(client: Client, tmp_path: Path) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"task_id": "x", "prompt": "def f():\\n"}\n')
    settings = sandbox_settings(tmp_path, "bwrap")
    result = await naestro(["eval", "humaneval", str(broken)], client, settings.source)
    assert result.returncode == 1
    assert f"{broken}:1: canonical_solution: Field required" in result.stderr


async def test_eval_exits_non_zero_when_the_sandbox_is_broken(
    client: Client, tmp_path: Path
) -> None:
    problems, _ = _problems_file(tmp_path)
    nowhere = f"unix://{tmp_path}/no-docker.sock"
    settings = sandbox_settings(tmp_path, "bwrap", docker_host=nowhere)
    async with running_workers(client, settings):
        result = await naestro(
            ["eval", "humaneval", str(problems), "--backend", "docker"], client, settings.source
        )
    assert result.returncode == 1
    assert "the Docker engine does not answer" in result.stderr
