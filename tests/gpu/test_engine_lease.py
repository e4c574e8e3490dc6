"""Foreground model calls pause background GPU work on the same GPU: while a GPU engine's
worker runs a task's calls it holds its GPU's lease (never preempted), a background GPU job
there checkpoints and waits, and resumes once the engine has been idle a while."""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

from temporalio.client import Client

from naestro import names
from naestro.client import start_task
from naestro.contracts import TaskRequest
from naestro.contracts.gpu import GpuJobRequest, GpuJobResult, PoolView
from tests.gpu.test_admission import engine_worker
from tests.gpu.test_pool import BACKGROUND, GRACE, TTL
from tests.support import make_settings, replay_provider, write_script
from tests.workflow.scripts import verdict
from workers.gpu.engine_lease import EngineLease
from workers.gpu.nvml import FakeNvml, fake_gpu
from workers.gpu.slots import GpuSlots
from workers.gpu.telemetry import GpuSampler
from workflows.gpu_job import GpuJobWorkflow


async def test_a_task_on_a_gpu_engine_pauses_a_background_job_on_its_gpu(
    client: Client, tmp_path: Path
) -> None:
    script = write_script(
        tmp_path / "script.jsonl",
        [{"role": "implementer", "text": "4"}, {"role": "judge", "text": verdict(0.9)}],
    )
    engine = replay_provider(script, "gpu_llm", location="local", simulated_latency_ms=700)
    gpu = {
        "pool": f"p{uuid.uuid4().hex[:8]}",
        "jobs_concurrency": 2,
        "lease_ttl_seconds": TTL,
        "preempt_grace_seconds": GRACE,
        "engine_idle_seconds": 1.0,
    }
    settings = make_settings(
        tmp_path,
        [engine],
        {"plan": False},
        gpu=gpu,
        dev={"data_dir": str(tmp_path / "data")},
    )
    (tmp_path / "bg.py").write_text(BACKGROUND)
    sampler = GpuSampler(FakeNvml([fake_gpu(0, used_gib=10)]), settings.gpu, {"gpu_llm": ["0"]})
    sampler.sample()
    lease = EngineLease(client, settings, "gpu_llm", ["0"])
    slots = GpuSlots("gpu_llm", 4, ["0"], sampler, 0.9, lease=lease)
    job = GpuJobRequest(
        job_id=f"bg-{uuid.uuid4().hex[:6]}",
        pool=settings.gpu.pool,
        argv=[sys.executable, str(tmp_path / "bg.py")],
        devices=["0"],
        priority=5,
    )
    queue = settings.queues.orchestrator
    async with engine_worker(client, settings, slots):
        bg = await client.start_workflow(GpuJobWorkflow.run, job, id=job.job_id, task_queue=queue)
        step = tmp_path / "data" / "gpu-jobs" / job.job_id / "step"
        for _ in range(200):  # the job is under way on GPU 0 ...
            if step.exists() and int(step.read_text() or 0) >= 5:
                break
            await asyncio.sleep(0.1)
        task = await start_task(client, TaskRequest(prompt="2+2?"), task_queue=queue)
        answer = await asyncio.wait_for(task.result(), 60)  # ... when a task's calls arrive
        background: GpuJobResult = await asyncio.wait_for(bg.result(), 60)
        coordinator = client.get_workflow_handle(settings.gpu.coordinator_id)
        pool = await coordinator.query(names.GPU_POOL_QUERY, result_type=PoolView)
        await lease.close()
        await coordinator.terminate("test over")

    assert answer.status in ("succeeded", "unverified")
    assert (background.exit_code, background.pauses) == (0, 1), background.output_tail
    assert "checkpointed at" in background.output_tail
    assert "background done" in background.output_tail
    assert (await task.describe()).close_time < (await bg.describe()).close_time  # type: ignore[operator]
    # the job, the engine (preempting it), the job again; nobody was revoked
    assert pool.grants == 3 and pool.preemptions == 1 and pool.revoked == 0
