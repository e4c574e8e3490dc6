"""A GPU node's worker end to end, NVML faked from a file: it places its engine on a free
MIG instance of the profile it asks for and starts it with that instance as
CUDA_VISIBLE_DEVICES; it reports the engine's GPU health to the pool's coordinator; and a
worker whose engines cannot be placed refuses to start, naming the engine."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from naestro import names
from naestro.contracts.gpu import PoolView
from naestro.errors import ConfigError
from tests.support import free_port, make_settings
from workers.deps import Deps
from workers.engines.supervisor import read_statuses
from workers.gpu.nvml import fake_gpu, fake_mig, write_fake
from workers.main import run_workers, select_queues

FAKE_ENGINE = str(Path(__file__).parents[1] / "engines" / "fake_engine.py")


def node_settings(tmp_path: Path, gpus: list[Any]) -> Any:
    port = free_port()
    devices = tmp_path / "nvml.json"
    write_fake(
        devices,
        [fake_gpu(0, mig_enabled=True), fake_mig(0, 0), fake_mig(0, 1), fake_gpu(1)],
    )
    provider = {
        "id": "slm",
        "engine": "llamacpp",
        "model": "tiny-model",
        "endpoint": f"http://127.0.0.1:{port}/v1",
    }
    engine = {
        "id": "slm",
        "kind": "command",
        "model": "tiny-model",
        "port": port,
        "command": [sys.executable, FAKE_ENGINE, str(port), "tiny-model", "0"],
        "gpus": gpus,
    }
    gpu = {"pool": f"p{uuid.uuid4().hex[:8]}", "nvml": f"fake:{devices}", "sample_seconds": 0.2}
    return make_settings(
        tmp_path, [provider], engines=[engine], gpu=gpu, dev={"data_dir": str(tmp_path)}
    )


def environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


async def test_the_engine_runs_on_its_placed_mig_instance_and_its_health_reaches_the_pool(
    client: Client, tmp_path: Path
) -> None:
    settings = node_settings(tmp_path, ["0:1g.10gb"])
    plans = select_queues(settings, [settings.queues.orchestrator, settings.provider("slm").queue])
    deps, stop = Deps.from_settings(settings), asyncio.Event()
    running = asyncio.create_task(run_workers(client, deps, plans, stop))
    try:
        pid = None
        for _ in range(100):
            status = next(iter(read_statuses(tmp_path / "engines")), None)
            if status is not None and status.state == "ready" and status.pid:
                pid = status.pid
                break
            await asyncio.sleep(0.1)
        assert pid is not None, "the engine never became ready"
        assert environ(pid)["CUDA_VISIBLE_DEVICES"] == "MIG-fake-0000"

        coordinator = client.get_workflow_handle(settings.gpu.coordinator_id)
        view = None
        for _ in range(100):
            with contextlib.suppress(Exception):
                view = await coordinator.query(names.GPU_POOL_QUERY, result_type=PoolView)
                if view.health is not None:
                    break
            await asyncio.sleep(0.1)
        assert view is not None and view.health is not None
        slm = view.health.engine("slm")
        assert slm is not None and slm.ok and slm.devices == ["MIG-fake-0000"]
    finally:
        stop.set()
        await asyncio.wait_for(running, 60)
        with contextlib.suppress(Exception):
            await client.get_workflow_handle(settings.gpu.coordinator_id).terminate("test over")


async def test_a_worker_whose_engine_cannot_be_placed_refuses_to_start(
    client: Client, tmp_path: Path
) -> None:
    settings = node_settings(tmp_path, [0])  # GPU 0 is split into MIG instances
    plans = select_queues(settings, [settings.provider("slm").queue])
    with pytest.raises(ConfigError, match="GPU 0 is split into MIG instances"):
        await run_workers(client, Deps.from_settings(settings), plans, asyncio.Event())
