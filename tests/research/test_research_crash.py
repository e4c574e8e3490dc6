"""A research job outlives its worker (SIGKILL mid-call, after a continue-as-new) and its
Temporal server (killed and restarted mid-call), and still ends with a final report whose
findings were each stored once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from temporalio.client import Client

from naestro.client import research_handle, start_research
from naestro.config.settings import Settings
from naestro.contracts.research import ResearchRequest, ResearchResult
from tests.processes import DevServer, WorkerProcesses
from tests.research.jobs import (
    GOAL,
    QUESTIONS,
    REPORT,
    add_document,
    gathered,
    job_id,
    rules,
)
from tests.support import make_settings, replay_provider, running_workers, write_script
from workers.deps import Deps

pytestmark = pytest.mark.timeout(180)
# Three iterations of one question, two per run: the crash comes in the second run.
REQUEST = ResearchRequest(
    goal=GOAL, questions=QUESTIONS, questions_per_iteration=1, iterations_per_run=2
)


@pytest.fixture
def dev_server(temporal_cli: str, tmp_path: Path) -> Iterator[DevServer]:
    server = DevServer(temporal_cli, tmp_path / "temporal.sqlite")
    server.start()
    yield server
    server.kill()


def _settings(tmp_path: Path, url_env: str, record: Path) -> Settings:
    """A slow implementer (its call is in flight when the crash comes), fast other roles."""
    script = write_script(tmp_path / "script.jsonl", rules())
    fast = replay_provider(script, pid="fast", record=str(record))
    slow = replay_provider(script, pid="slow", record=str(record), simulated_latency_ms=3000)
    roles = {"planner": ["fast"], "implementer": ["slow"], "refiner": ["fast"], "judge": ["fast"]}
    return make_settings(
        tmp_path,
        [fast, slow],
        policy={"roles": roles, "heartbeat_timeout_seconds": 2},
        memory={"enabled": True, "database_url_env": url_env},
    )


async def _until_gathering(record: Path, count: int) -> None:
    """Until the implementer has received ``count`` calls (the last one is in flight)."""
    for _ in range(1200):
        if len(gathered(record)) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the implementer got {gathered(record)}, not {count} calls")


async def _stored(db_url: str, job: str) -> list[str]:
    conn = await asyncpg.connect(db_url)
    try:
        rows = await conn.fetch(
            "SELECT question_id FROM research_findings WHERE job_id = $1 ORDER BY id", job
        )
    finally:
        await conn.close()
    return [r["question_id"] for r in rows]


def _check(result: ResearchResult) -> None:
    assert (result.stop_reason, result.iterations, result.findings) == ("no_questions", 3, 3)
    assert result.runs == 2
    assert result.report.startswith(REPORT) and "Citations:\n[1] tides.md" in result.report
    assert result.citations and result.citations[0].source == "tides.md"


async def test_job_survives_a_sigkilled_worker(
    client: Client, tmp_path: Path, url_env: str, db_url: str
) -> None:
    record = tmp_path / "calls.jsonl"
    settings = _settings(tmp_path, url_env, record)
    deps = Deps.from_settings(settings)
    try:
        await add_document(deps)
    finally:
        await deps.aclose()
    address = client.service_client.config.target_host
    job = job_id()
    with WorkerProcesses(settings.source, address) as workers:
        handle = await start_research(
            client, REQUEST, job_id=job, task_queue=settings.queues.orchestrator
        )
        await _until_gathering(record, 3)  # iteration 3, in the job's second run
        workers.replace()
        result = await asyncio.wait_for(handle.result(), 150)
    _check(result)
    # Only the call in flight ran again; every finding was stored once.
    assert gathered(record) == ["q1", "q2", "q3", "q3"]
    assert await _stored(db_url, job) == ["q1", "q2", "q3"]


async def test_job_survives_a_dev_server_restart(
    dev_server: DevServer, tmp_path: Path, url_env: str, db_url: str
) -> None:
    record = tmp_path / "calls.jsonl"
    settings = _settings(tmp_path, url_env, record)
    client = await dev_server.client()
    job = job_id()
    async with running_workers(client, settings) as deps:
        await add_document(deps)
        await start_research(client, REQUEST, job_id=job, task_queue=settings.queues.orchestrator)
        await _until_gathering(record, 3)
        dev_server.kill()  # mid-activity: iteration 3's implementer call is in flight
        await asyncio.sleep(1)
        dev_server.start()  # same SQLite file, same port
        result = await asyncio.wait_for(_result_when_back(client, job), 150)
    _check(result)
    assert await _stored(db_url, job) == ["q1", "q2", "q3"]


async def _result_when_back(client: Client, job: str) -> ResearchResult:
    while True:
        try:
            return await research_handle(client, job).result()
        except RuntimeError:
            await asyncio.sleep(0.5)
