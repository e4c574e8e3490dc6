"""Drill (g): a worker cut off from the model endpoint while N tasks have calls in flight.

The worker runs in a network namespace of its own (``unshare --net``) and reaches the dev
server and the endpoint only through relays the test holds (tests/drills/netns.py); memory's
Postgres through its Unix socket. The cut is a partition of the endpoint's relay alone: new
connections wait and bytes in flight stop, as on a link that drops packets; the endpoint
itself stays up. A few seconds later the link is back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

from tests.drills.endpoint import Endpoint, engine_settings
from tests.drills.harness import ANSWER, TASKS, finish
from tests.drills.load import Load
from tests.drills.netns import Relay, worker_in_namespace
from tests.processes import DevServer, WorkerProcesses

DOWN_S = 5


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    with Endpoint(ANSWER, delay_s=1.0) as server:
        yield server


@pytest.fixture
async def relays(
    drill_server: DevServer, endpoint: Endpoint, tmp_path: Path
) -> AsyncIterator[tuple[Relay, Relay]]:
    temporal = Relay(tmp_path / "temporal.sock", drill_server.port)
    model = Relay(tmp_path / "model.sock", endpoint.port)
    await temporal.start()
    await model.start()
    try:
        yield temporal, model
    finally:
        await model.close()
        await temporal.close()


async def test_worker_partitioned_from_endpoint(
    drill_client: Client,
    drill_server: DevServer,
    endpoint: Endpoint,
    relays: tuple[Relay, Relay],
    db_url: str,
    tmp_path: Path,
    drill_report: Path,
) -> None:
    assert "host=" in db_url  # pgserver's Unix socket: reachable from any namespace
    settings = engine_settings(tmp_path, endpoint.port)
    drill = "g worker partitioned from endpoint"
    load = Load(
        drill_client, settings.queues.orchestrator, drill, TASKS, lambda: endpoint.calls(load.ids)
    )
    model = relays[1]
    prefix = worker_in_namespace(relays, tmp_path / "relays-ready")
    env = {"DATABASE_URL": db_url}
    log = tmp_path / "w.log"
    with WorkerProcesses(settings.source, drill_server.address, env, log, prefix):
        await load.start()
        await load.until_calls(TASKS)
        await load.faulted()
        model.cut()
        await asyncio.sleep(DOWN_S)  # the partition itself
        model.restore()
        await load.cleared()
        recovery = await load.recovery(90)
        await finish(load, drill_report, recovery, db_url)
