"""Crash tests: the Temporal server or a worker dies mid-task, and the task still completes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

from naestro.client import query_status, start_task
from naestro.contracts import TaskRequest, TaskResult
from tests.processes import DevServer, WorkerProcesses
from tests.support import make_settings, replay_provider, running_workers, write_script
from tests.workflow.scripts import PROMPT, code_task_rules


@pytest.fixture
def dev_server(temporal_cli: str, tmp_path: Path) -> Iterator[DevServer]:
    server = DevServer(temporal_cli, tmp_path / "temporal.sqlite")
    server.start()
    yield server
    server.kill()


async def wait_for_phase(client: Client, task_id: str, phase: str) -> None:
    for _ in range(300):
        try:
            if (await query_status(client, task_id)).phase == phase:
                return
        except Exception:
            pass
        await asyncio.sleep(0.05)
    raise AssertionError(f"task {task_id} never reached phase {phase}")


async def test_task_survives_dev_server_restart(dev_server: DevServer, tmp_path: Path) -> None:
    rules = code_task_rules()
    script = write_script(tmp_path / "s.jsonl", rules)
    slow = replay_provider(script, pid="slow", simulated_latency_ms=3000)
    fast = replay_provider(script, pid="fast")
    settings = make_settings(tmp_path, [fast, slow], policy={"heartbeat_timeout_seconds": 2})
    roles = {"planner": ["fast"], "implementer": ["slow"], "refiner": ["fast"], "judge": ["fast"]}
    settings = settings.model_copy(
        update={
            "policies": {
                "default": settings.policies["default"].model_copy(update={"roles": roles})
            }
        }
    )
    client = await dev_server.client()
    async with running_workers(client, settings):
        handle = await start_task(
            client, TaskRequest(prompt=PROMPT, kind="code"), task_queue=settings.queues.orchestrator
        )
        await wait_for_phase(client, handle.id, "implement")
        dev_server.kill()  # mid-activity: the implement call is in flight
        await asyncio.sleep(1)
        dev_server.start()  # same SQLite file, same port
        result = await asyncio.wait_for(_result_when_back(client, handle.id), 120)
    assert result.status == "succeeded"
    assert result.verification is not None and result.verification.passed


async def _result_when_back(client: Client, task_id: str) -> TaskResult:
    from naestro.client import task_handle

    while True:
        try:
            return await task_handle(client, task_id).result()
        except RuntimeError:
            await asyncio.sleep(0.5)


def _calls(log: Path) -> list[tuple[str, str]]:
    if not log.exists():
        return []
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return [(r["phase"], r["role"]) for r in rows]


async def test_sigkilled_worker_is_replaced_without_rerunning_completed_calls(
    client: Client, tmp_path: Path
) -> None:
    log = tmp_path / "calls.jsonl"
    script = write_script(tmp_path / "s.jsonl", code_task_rules())
    fast = replay_provider(script, pid="fast", record=str(log))
    slow = replay_provider(script, pid="slow", record=str(log), simulated_latency_ms=4000)
    roles = {"planner": ["fast"], "implementer": ["slow"], "refiner": ["fast"], "judge": ["fast"]}
    settings = make_settings(
        tmp_path, [fast, slow], policy={"roles": roles, "heartbeat_timeout_seconds": 2}
    )
    address = client.service_client.config.target_host
    with WorkerProcesses(settings.source, address) as workers:
        handle = await start_task(
            client, TaskRequest(prompt=PROMPT, kind="code"), task_queue=settings.queues.orchestrator
        )
        for _ in range(600):  # the implement call has reached the provider: it is in flight
            if ("implement", "implementer") in _calls(log):
                break
            await asyncio.sleep(0.05)
        assert ("implement", "implementer") in _calls(log), "the worker never made the call"
        workers.replace()
        result = await asyncio.wait_for(handle.result(), 120)
    assert result.status == "succeeded", result.reason
    assert result.verification is not None and result.verification.passed
    assert "a + b" in result.answer
    # Only the call that was in flight ran again; every completed call ran exactly once.
    assert _calls(log) == [
        ("plan", "planner"),
        ("implement", "implementer"),
        ("implement", "implementer"),
        ("refine", "refiner"),
        ("review", "judge"),
    ]
    assert [(c.phase, c.role) for c in result.trace] == [
        ("plan", "planner"),
        ("implement", "implementer"),
        ("refine", "refiner"),
        ("review", "judge"),
    ]
