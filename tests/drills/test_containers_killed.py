"""Drill (e): the Docker sandbox's containers die mid-verification while N code tasks
verify their answers. Stopping the machine's dockerd would take every other test's
containers with it, so the drill kills (`docker kill`) the containers labelled as the drill
worker's sandbox's (``naestro.sandbox=<host>:<worker pid>:...``), pool and busy ones alike,
again and again for a few seconds: a Docker outage seen from this worker alone."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

from temporalio.client import Client

from naestro.contracts import TaskRequest
from tests.drills.effects import recorded_calls
from tests.drills.harness import code_rules, finish, scripted_settings
from tests.drills.load import Load, prompt
from tests.processes import DevServer, WorkerProcesses

TASKS = 8
DOWN_S = 4


def kill_containers(worker_pid: int) -> int:
    """`docker kill` every running container of the worker's sandbox; how many."""
    listed = subprocess.run(
        ["docker", "ps", "--filter", "label=naestro.sandbox",
         "--format", '{{.ID}} {{.Label "naestro.sandbox"}}'],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    mine = f"{os.uname().nodename}:{worker_pid}:"
    ids = [line.split()[0] for line in listed.splitlines() if mine in line]
    if ids:
        subprocess.run(["docker", "kill", *ids], capture_output=True, check=False, timeout=30)
    return len(ids)


def outage(worker_pid: int, seconds: float) -> int:
    """Kill the worker's containers (new ones too) for ``seconds``; how many died."""
    killed, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        killed += kill_containers(worker_pid)
        time.sleep(0.2)
    return killed


async def test_sandbox_containers_killed(
    drill_client: Client, drill_server: DevServer, db_url: str, tmp_path: Path, drill_report: Path
) -> None:
    log = tmp_path / "calls.jsonl"
    sandbox = {"backend": "docker", "pool_size": 4}
    settings = scripted_settings(
        tmp_path, log, latency_ms=300, rules=code_rules(TASKS), sandbox=sandbox
    )
    queue = settings.queues.orchestrator
    drill = "e sandbox containers killed"
    load = Load(drill_client, queue, drill, TASKS, lambda: recorded_calls(log))
    env = {"DATABASE_URL": db_url}
    with WorkerProcesses(settings.source, drill_server.address, env, tmp_path / "w.log") as w:
        await load.start(lambda i: TaskRequest(prompt=prompt(load.drill, i), kind="code"))
        await load.until_calls(2 * TASKS)  # implement calls made: verifications next
        await load.faulted()
        killed = await asyncio.to_thread(outage, w.procs[-1].pid, DOWN_S)
        await load.cleared()
        recovery = await load.recovery(90)
        reports = [r for i in load.ids for r in await load.verifications(i)]
        spoiled = [r for r in reports if not r.passed]  # the code is right: the fault did it
        cached = sum(r.cached for r in spoiled)
        notes = [
            f"{killed} containers killed",
            f"{len(reports)} sandbox reports, {len(spoiled)} failing ({cached} from the cache)",
        ]
        await finish(load, drill_report, recovery, db_url, notes=notes)
    assert killed > 0, "the outage killed no container of the worker's"
