"""GPU slots on a real worker: an engine's model-call worker whose GPU is over its memory
cap takes no call (the call waits in the engine's queue) until a sample shows room; with its
one slot busy, the calls queued behind it are served by their task's Temporal priority, so a
foreground task's calls overtake a background backlog."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client, WorkflowHandle

from naestro.client import start_task
from naestro.config.settings import Settings
from naestro.contracts import TaskRequest, TaskResult
from tests.support import make_settings, replay_provider, settle_once, write_script
from tests.workflow.scripts import verdict
from workers import models
from workers.deps import Deps
from workers.gpu.nvml import FakeNvml, fake_gpu
from workers.gpu.slots import GpuSlots
from workers.gpu.telemetry import GpuSampler
from workers.main import build_workers, select_queues

GIB = 1 << 30


def gpu_settings(tmp_path: Path, latency_ms: float = 0.0) -> Settings:
    script = write_script(
        tmp_path / "script.jsonl",
        [{"role": "implementer", "text": "4"}, {"role": "judge", "text": verdict(0.9)}],
    )
    engine = replay_provider(script, "gpu_llm", location="local", simulated_latency_ms=latency_ms)
    return make_settings(tmp_path, [engine], {"plan": False})


@contextlib.asynccontextmanager
async def engine_worker(client: Client, settings: Settings, slots: GpuSlots) -> AsyncIterator[None]:
    """Every queue of the test's settings, the engine's under GPU slots."""
    deps = Deps.from_settings(settings)
    engine_queue = settings.provider("gpu_llm").queue
    others = [p for p in select_queues(settings, []) if p.queue != engine_queue]
    async with contextlib.AsyncExitStack() as stack:
        for worker in build_workers(client, deps, others):
            await stack.enter_async_context(worker)
        engine = models.build_worker(client, deps, engine_queue, 1, slots=slots)
        await stack.enter_async_context(engine)
        await settle_once(client, settings)
        yield


async def run(
    client: Client, settings: Settings, priority: int, prompt: str = "2+2?"
) -> WorkflowHandle[object, TaskResult]:
    request = TaskRequest(prompt=prompt, kind="general", priority=priority)
    return await start_task(
        client,
        request,
        task_id=f"gpu-{uuid.uuid4().hex[:8]}",
        task_queue=settings.queues.orchestrator,
    )


async def call_state(handle: WorkflowHandle[object, TaskResult]) -> int | None:
    description = await handle.describe()
    pending = description.raw_description.pending_activities
    return pending[0].state if pending else None


async def test_a_full_gpu_holds_calls_in_the_queue_until_a_sample_shows_room(
    client: Client, tmp_path: Path
) -> None:
    settings = gpu_settings(tmp_path)
    fake = FakeNvml([fake_gpu(0, used_gib=75)])  # cap 0.9 of 80 GiB = 72 GiB: full
    sampler = GpuSampler(fake, settings.gpu, {"gpu_llm": ["0"]})
    sampler.sample()
    slots = GpuSlots("gpu_llm", 4, ["0"], sampler, 0.9, 1 * GIB)
    async with engine_worker(client, settings, slots):
        handle = await run(client, settings, priority=3)
        for _ in range(40):  # the model call is scheduled on the engine's queue ...
            if await call_state(handle) is not None:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.5)  # ... and no worker takes it while the GPU is full
        assert await call_state(handle) == PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED
        assert slots.refusal() == "memory"

        fake.set("0", memory_used_bytes=40 * GIB)
        await asyncio.to_thread(sampler.sample)
        result = await asyncio.wait_for(handle.result(), 60)
    assert result.status in ("succeeded", "unverified")


async def test_queued_calls_are_served_by_their_task_priority(
    client: Client, tmp_path: Path
) -> None:
    # One slot, 400 ms a call: background tasks (priority 5) queue up behind the first;
    # a foreground task (priority 1) started after them has its calls served first.
    settings = gpu_settings(tmp_path, latency_ms=400)
    sampler = GpuSampler(FakeNvml([fake_gpu(0, used_gib=10)]), settings.gpu, {"gpu_llm": ["0"]})
    sampler.sample()
    slots = GpuSlots("gpu_llm", 1, ["0"], sampler, 0.9)
    finished: list[str] = []

    async def follow(name: str, handle: WorkflowHandle[object, TaskResult]) -> None:
        await handle.result()
        finished.append(name)

    async with engine_worker(client, settings, slots):
        followers = []
        for i in range(4):
            followers.append(follow(f"background-{i}", await run(client, settings, priority=5)))
        await asyncio.sleep(0.6)
        followers.append(follow("foreground", await run(client, settings, priority=1)))
        await asyncio.wait_for(asyncio.gather(*followers), 120)
    # Without priority the foreground task would finish last (8 calls queued before its 2).
    assert finished.index("foreground") <= 1, finished
