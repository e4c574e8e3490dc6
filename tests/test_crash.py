"""Crash tests: the Temporal server or a worker dies mid-task, and the task still completes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from naestro import search
from naestro.client import query_status, start_task
from naestro.contracts import TaskRequest
from tests.conftest import ROOT
from tests.support import free_port, make_settings, replay_provider, running_workers, write_script
from tests.workflow.scripts import PROMPT, code_task_rules

_SA_TYPE = {"KEYWORD": "Keyword", "INT": "Int", "DOUBLE": "Double", "BOOL": "Bool"}


class DevServer:
    """A Temporal CLI dev server process on a SQLite file, which tests may kill."""

    def __init__(self, cli: str, db: Path) -> None:
        self.cli, self.db, self.port = cli, db, free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        attrs = [
            a
            for k in search.ALL
            for a in ("--search-attribute", f"{k.name}={_SA_TYPE[k.indexed_value_type.name]}")
        ]
        self.proc = subprocess.Popen(
            [
                self.cli,
                "server",
                "start-dev",
                "--headless",
                "--ip",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--db-filename",
                str(self.db),
                "--log-level",
                "error",
                *attrs,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    async def client(self) -> Client:
        for _ in range(100):
            try:
                return await Client.connect(self.address, data_converter=pydantic_data_converter)
            except RuntimeError:
                await asyncio.sleep(0.2)
        raise AssertionError(f"dev server on {self.address} never answered")


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


async def _result_when_back(client: Client, task_id: str):
    from naestro.client import task_handle

    while True:
        try:
            return await task_handle(client, task_id).result()
        except RuntimeError:
            await asyncio.sleep(0.5)


class WorkerProcesses:
    """`naestro worker` subprocesses, each in its own process group: one starts on entry,
    ``replace`` SIGKILLs it (children included) and starts another, and every one still
    running is stopped on exit."""

    def __init__(self, config: str, address: str) -> None:
        self.config, self.address = config, address
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> WorkerProcesses:
        self.procs.append(_spawn_worker(self.config, self.address))
        return self

    def replace(self) -> None:
        current = self.procs[-1]
        os.killpg(current.pid, signal.SIGKILL)
        current.wait()
        self.procs.append(_spawn_worker(self.config, self.address))

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)


def _spawn_worker(config: str, address: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TEMPORAL_ADDRESS": address}
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", "--config", config, "worker"],
        env=env,
        cwd=ROOT,
        start_new_session=True,  # its own process group: SIGKILL takes its children too
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


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
