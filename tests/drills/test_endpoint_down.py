"""Drill (d): the model endpoint (an OpenAI-wire server on loopback, as a local vLLM or
llama.cpp engine) goes down while N tasks have calls in flight: its listener closes and the
calls' connections are cut; a few seconds later it listens again on the same port."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

from tests.drills.endpoint import Endpoint, engine_settings
from tests.drills.harness import ANSWER, TASKS, finish
from tests.drills.load import Load
from tests.processes import DevServer, WorkerProcesses

DOWN_S = 4


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    with Endpoint(ANSWER, delay_s=1.0) as server:
        yield server


async def test_endpoint_down_and_back(
    drill_client: Client,
    drill_server: DevServer,
    endpoint: Endpoint,
    db_url: str,
    tmp_path: Path,
    drill_report: Path,
) -> None:
    settings = engine_settings(tmp_path, endpoint.port)
    queue = settings.queues.orchestrator
    drill = "d model endpoint down"
    load = Load(drill_client, queue, drill, TASKS, lambda: endpoint.calls(load.ids))
    env = {"DATABASE_URL": db_url}
    with WorkerProcesses(settings.source, drill_server.address, env, tmp_path / "w.log"):
        await load.start()
        await load.until_calls(TASKS)
        await load.faulted()
        await asyncio.to_thread(endpoint.down)
        await asyncio.sleep(DOWN_S)  # the outage itself
        endpoint.up()
        await load.cleared()
        recovery = await load.recovery(90)
        await finish(load, drill_report, recovery, db_url)
