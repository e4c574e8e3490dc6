"""Drill (b): SIGKILL the Temporal dev server while N tasks run, and start it again on its
SQLite file and port after a few seconds; the worker process stays up throughout."""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio.client import Client

from tests.drills.effects import recorded_calls
from tests.drills.harness import TASKS, finish, scripted_settings
from tests.drills.load import Load
from tests.processes import DevServer, WorkerProcesses

DOWN_S = 3


async def test_sigkilled_dev_server(
    drill_client: Client, drill_server: DevServer, db_url: str, tmp_path: Path, drill_report: Path
) -> None:
    log = tmp_path / "calls.jsonl"
    settings = scripted_settings(tmp_path, log)
    queue = settings.queues.orchestrator
    load = Load(drill_client, queue, "b dev server SIGKILL", TASKS, lambda: recorded_calls(log))
    env = {"DATABASE_URL": db_url}
    with WorkerProcesses(settings.source, drill_server.address, env, tmp_path / "w.log"):
        await load.start()
        await load.until_calls(TASKS)
        await load.faulted()
        drill_server.kill()
        await asyncio.sleep(DOWN_S)  # the outage itself: nothing to wait on
        drill_server.start()  # same SQLite file, same port
        await load.cleared()
        recovery = await load.recovery(90)
        await finish(load, drill_report, recovery, db_url)
