"""Routing reads each engine's GPU health from its pool's coordinator: an engine whose GPU
is full (as its worker's telemetry saw it) is skipped like an unhealthy provider, the reason
recorded with the route in the task's history; it is routed to again once its worker reports
the GPU recovered; a report whose worker went silent long ago is no reason to skip."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.client import Client

from naestro import names
from naestro.client import start_task
from naestro.config.settings import Settings
from naestro.contracts import TaskRequest
from naestro.contracts.gpu import EngineGpuHealth, GpuHealthReport, PoolView
from tests.support import make_settings, replay_provider, running_workers, write_script
from tests.workflow.scripts import verdict
from workers.gpu.node import GpuNode
from workers.gpu.nvml import FakeNvml, fake_gpu

GIB = 1 << 30


def two_engines(tmp_path: Path) -> Settings:
    script = write_script(
        tmp_path / "script.jsonl",
        [{"role": "implementer", "text": "4"}, {"role": "judge", "text": verdict(0.9)}],
    )
    providers = [
        replay_provider(script, "gpu_llm", location="local"),
        replay_provider(script, "cpu_llm", location="local"),
    ]
    # The GPU engine is declared (placed on GPU 0) but started by no one here: the replay
    # provider answers for it, and its "worker" is the GpuNode the test drives.
    engine = {"id": "gpu_llm", "kind": "command", "command": ["true"], "model": "m", "port": 9}
    return make_settings(
        tmp_path,
        providers,
        {"plan": False},
        engines=[{**engine, "gpus": [0], "autostart": "fallback"}],
        gpu={"pool": f"test-{uuid.uuid4().hex[:8]}"},
    )


async def routed_to(client: Client, settings: Settings) -> tuple[str, str]:
    handle = await start_task(
        client, TaskRequest(prompt="2+2?"), task_queue=settings.queues.orchestrator
    )
    result = await asyncio.wait_for(handle.result(), 60)
    call = next(c for c in result.trace if c.role == "implementer")
    return call.provider, call.route_reason


async def wait_for_health(client: Client, settings: Settings, ok: bool) -> None:
    handle = client.get_workflow_handle(settings.gpu.coordinator_id)
    for _ in range(50):
        view = await handle.query(names.GPU_POOL_QUERY, result_type=PoolView)
        verdict_ = view.health.engine("gpu_llm") if view.health else None
        if verdict_ is not None and verdict_.ok == ok:
            await asyncio.sleep(2.1)  # routing keeps a pool's report 2 s
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the pool never recorded gpu_llm ok={ok}")


async def test_an_engine_on_a_full_gpu_is_skipped_until_its_gpu_recovers(
    client: Client, tmp_path: Path
) -> None:
    settings = two_engines(tmp_path)
    fake = FakeNvml([fake_gpu(0, used_gib=79.6)])  # 99.5% of 80 GiB: past 0.99
    async with running_workers(client, settings):
        node = GpuNode(client, settings, ["gpu_llm"], nvml=fake)
        assert node.placements == {"gpu_llm": ["0"]}
        assert await node.sampler.publish_if_changed()
        await wait_for_health(client, settings, ok=False)

        provider, reason = await routed_to(client, settings)
        assert provider == "cpu_llm"
        assert "gpu_llm: GPU 0 out of memory (79.6 of 80.0 GiB)" in reason

        fake.set("0", memory_used_bytes=20 * GIB)
        node.sampler.sample()
        assert await node.sampler.publish_if_changed()
        await wait_for_health(client, settings, ok=True)
        provider, reason = await routed_to(client, settings)
    assert provider == "gpu_llm" and reason == "first choice"


async def test_a_stale_report_is_no_reason_to_skip(client: Client, tmp_path: Path) -> None:
    settings = two_engines(tmp_path)
    old = GpuHealthReport(
        pool=settings.gpu.pool,
        engines=[EngineGpuHealth(engine_id="gpu_llm", devices=["0"], ok=False, reason="XID 79")],
        at=datetime.now(UTC) - timedelta(hours=1),  # its worker has been gone an hour
    )
    async with running_workers(client, settings):
        node = GpuNode(client, settings, ["gpu_llm"], nvml=FakeNvml([fake_gpu(0)]))
        await node._publish(old)
        await wait_for_health(client, settings, ok=False)
        provider, _ = await routed_to(client, settings)
    assert provider == "gpu_llm"
