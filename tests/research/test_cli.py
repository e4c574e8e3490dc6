"""`naestro research start|steer|status|report` as real subprocesses against the test dev
server, with in-process workers (memory on the test's Postgres) and scripted replies."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from pathlib import Path

import pytest
from temporalio.client import Client

from naestro.client import research_events, research_handle
from naestro.config.settings import Settings
from tests.research.jobs import (
    GOAL,
    QUESTIONS,
    REPORT,
    research_settings,
    rules,
    wait_view,
)
from tests.support import running_workers
from tests.test_cli import naestro

pytestmark = pytest.mark.timeout(180)


async def cli(client: Client, settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    address = client.service_client.config.target_host
    return await asyncio.to_thread(
        naestro, ["research", *args], address=address, config=settings.source
    )


async def digested(client: Client, job_id: str) -> None:
    """Once the job has written a digest (its progress log says so)."""
    for _ in range(600):
        if any(e.type == "digest" for e in await research_events(client, job_id, 0)):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("no digest written")


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0].removeprefix("error: ")


async def test_start_status_steer_and_report(client: Client, tmp_path: Path, url_env: str) -> None:
    settings = research_settings(tmp_path, url_env, rules(judge=0.3))
    questions = [arg for q in QUESTIONS for arg in ("--question", q)]
    async with running_workers(client, settings):
        started = await cli(
            client, settings, "start", GOAL, *questions, "--cadence", "3600",
            "--digest", "1", "--max-usd", "2", "--json",
        )  # fmt: skip
        assert started.returncode == 0, started.stderr
        job_id = json.loads(started.stdout)["job_id"]
        handle = research_handle(client, job_id)
        await wait_view(handle, lambda v: v.status == "waiting" and v.iteration == 1)
        await digested(client, job_id)
        status, as_json, digest, refused, two, none, bell = await asyncio.gather(  # none steers
            cli(client, settings, "status", job_id),
            cli(client, settings, "status", job_id, "--json"),
            cli(client, settings, "report", job_id),
            cli(client, settings, "steer", job_id, "--drop-question", "q9"),
            cli(client, settings, "steer", job_id, "--pause", "--stop"),
            cli(client, settings, "steer", job_id),
            cli(client, settings, "steer", job_id, "--add-question", "Tides?\x07"),
        )
        added = await cli(client, settings, "steer", job_id, "--add-question", "How high?")
        await wait_view(handle, lambda v: v.iteration == 2 and v.status == "waiting")
        stopped = await cli(client, settings, "steer", job_id, "--stop", "--reason", "enough")
        await handle.result()
        report = await cli(client, settings, "report", job_id)
        late = await cli(client, settings, "steer", job_id, "--resume")

    out = status.stdout
    assert status.returncode == 0, status.stderr
    # a digest every second: the job may be writing one just now
    head = rf"research job {job_id}: \w+ \(phase (wait|digest)\), iteration 1, run 1"
    assert re.search(head, out), out
    assert f"goal: {GOAL}" in out and "spend: $0.0000 of $2.00" in out
    assert f"q1 [answered] {QUESTIONS[0]}" in out
    assert "recent findings (3 of 3):" in out and "The Moon's gravity pulls" in out
    assert json.loads(as_json.stdout)["questions"][2]["text"] == QUESTIONS[2]
    assert digest.returncode == 0, digest.stderr
    assert "is still running; its latest digest (iteration 1" in digest.stdout
    assert "Digest after iteration 1: 3 finding(s)" in digest.stdout
    assert one_error_line(refused).startswith("steering refused: no question q9 in this job")
    assert one_error_line(two).startswith("give exactly one action")
    assert one_error_line(none).startswith("give exactly one action")
    assert "question" in one_error_line(bell) and "control characters" in one_error_line(bell)
    assert added.returncode == 0 and "q4 is asked from iteration 2" in added.stdout
    assert stopped.returncode == 0 and "stops before iteration 3" in stopped.stdout
    assert report.returncode == 0, report.stderr
    assert "done (stopped), 2 iteration(s) in 1 run(s), 4 finding(s)" in report.stdout
    assert REPORT.removesuffix(" [1].") in report.stdout and "sources:" in report.stdout
    assert one_error_line(late) == f"research job {job_id} is not running (it is completed)"


async def test_start_wait_follows_to_the_final_report(
    client: Client, tmp_path: Path, url_env: str
) -> None:
    settings = research_settings(tmp_path, url_env, rules(judge=0.3))
    async with running_workers(client, settings):
        done = await cli(
            client, settings, "start", GOAL, "--question", QUESTIONS[0], "--max-iterations", "1",
            "--wait",
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "research job research-" in out and " started: " in out
    assert "iteration: iteration 1" in out and "status: status budget_exhausted" in out
    assert "done (iterations), 1 iteration(s)" in out and "Tides are driven" in out


async def test_errors_are_one_line(client: Client, tmp_path: Path, url_env: str) -> None:
    settings = research_settings(tmp_path, url_env, rules())
    unknown, report, steer, empty, policy, long = await asyncio.gather(
        cli(client, settings, "status", "research-nope"),
        cli(client, settings, "report", "research-nope"),
        cli(client, settings, "steer", "research-nope", "--pause"),
        cli(client, settings, "start", ""),
        cli(client, settings, "start", GOAL, "--policy", "nope"),
        cli(client, settings, "steer", "research-nope", "--add-question", "x" * 501),
    )
    assert one_error_line(unknown) == "no research job with id 'research-nope'"
    assert one_error_line(report) == "no research job with id 'research-nope'"
    assert one_error_line(steer) == "no research job with id 'research-nope'"
    assert one_error_line(empty).startswith("invalid research job: goal:")
    assert one_error_line(policy).startswith("unknown policy 'nope' (known: default")
    assert one_error_line(long).startswith("invalid steering command: question:")
