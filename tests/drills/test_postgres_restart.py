"""Drill (c): stop the Postgres that memory uses (a dedicated one, so no other test sees it)
while N tasks recall and write back, and start it again on its data dir a few seconds later.
Progress after the restart is a memory row written."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from temporalio.client import Client

from naestro import db
from naestro.config.settings import MemoryConfig
from tests.drills.effects import recorded_calls
from tests.drills.harness import TASKS, finish, scripted_settings
from tests.drills.load import Load
from tests.processes import DevServer, Postgres, WorkerProcesses

DOWN_S = 4


@pytest.fixture
def postgres() -> Iterator[Postgres]:
    server = Postgres()
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.remove()


async def _memory_rows(url: str) -> int:
    try:
        conn = await asyncpg.connect(url, timeout=2)
    except (OSError, asyncpg.PostgresError):
        return -1  # down, or still starting
    try:
        count: int = await conn.fetchval("SELECT count(*) FROM tasks")
        return count
    finally:
        await conn.close()


async def test_postgres_restart(
    drill_client: Client,
    drill_server: DevServer,
    postgres: Postgres,
    tmp_path: Path,
    drill_report: Path,
) -> None:
    await db.migrate(postgres.url, MemoryConfig())
    log = tmp_path / "calls.jsonl"
    settings = scripted_settings(tmp_path, log)
    queue = settings.queues.orchestrator
    load = Load(drill_client, queue, "c Postgres restart", TASKS, lambda: recorded_calls(log))
    env = {"DATABASE_URL": postgres.url}
    with WorkerProcesses(settings.source, drill_server.address, env, tmp_path / "w.log"):
        await load.start()
        await load.until_calls(2 * TASKS)  # recalls done; write-backs about to start
        await load.faulted()
        await asyncio.to_thread(postgres.stop)
        await asyncio.sleep(DOWN_S)  # the outage itself
        await asyncio.to_thread(postgres.start)
        await load.cleared()
        recovery = await load.recovery(90, progress=lambda: _memory_rows(postgres.url))
        await finish(load, drill_report, recovery, postgres.url)
