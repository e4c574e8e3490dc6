"""Drill (a): SIGKILL the worker process (orchestrator, model and memory queues) while N
tasks run, and start a replacement at once."""

from __future__ import annotations

from pathlib import Path

from temporalio.client import Client

from tests.drills.effects import recorded_calls
from tests.drills.harness import TASKS, finish, scripted_settings
from tests.drills.load import Load
from tests.processes import DevServer, WorkerProcesses


async def test_sigkilled_worker(
    drill_client: Client, drill_server: DevServer, db_url: str, tmp_path: Path, drill_report: Path
) -> None:
    log = tmp_path / "calls.jsonl"
    settings = scripted_settings(tmp_path, log)
    queue = settings.queues.orchestrator
    load = Load(drill_client, queue, "a worker SIGKILL", TASKS, lambda: recorded_calls(log))
    env = {"DATABASE_URL": db_url}
    with WorkerProcesses(settings.source, drill_server.address, env, tmp_path / "w.log") as w:
        await load.start()
        await load.until_calls(TASKS)  # calls in flight on the worker
        await load.faulted()
        w.kill()
        w.start()
        await load.cleared()
        recovery = await load.recovery(90)
    row = await finish(load, drill_report, recovery, db_url)
    assert row.reran_in_flight >= 1  # the kill hit calls in flight, which ran again
