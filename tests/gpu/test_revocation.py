"""A GPU job that ignores the request to yield loses its lease when the grace runs out: it is
killed, its GPU goes to the higher-priority job, and it runs again (from the start: it kept
no checkpoint) once the GPU is free."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid
from pathlib import Path

from temporalio.client import Client
from temporalio.service import RPCError

from naestro import names
from naestro.contracts.gpu import GpuJobRequest, GpuJobResult, PoolView
from tests.gpu.test_pool import FOREGROUND, pool_settings, pool_workers
from workflows.gpu_job import GpuJobWorkflow

# Ignores SIGTERM; 20 steps of 0.1 s; says where it started.
STUBBORN = """
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("started", flush=True)
for step in range(20):
    time.sleep(0.1)
print("stubborn done", flush=True)
"""


async def test_a_job_that_does_not_yield_is_revoked_killed_and_run_again(
    client: Client, tmp_path: Path
) -> None:
    base = pool_settings(tmp_path)
    settings = base.model_copy(
        update={"gpu": base.gpu.model_copy(update={"preempt_grace_seconds": 1.0})}
    )
    for name, text in (("stubborn", STUBBORN), ("fg", FOREGROUND)):
        (tmp_path / f"{name}.py").write_text(text)
    tag = uuid.uuid4().hex[:6]

    def job(name: str, priority: int) -> GpuJobRequest:
        argv = [sys.executable, str(tmp_path / f"{name}.py")]
        return GpuJobRequest(
            job_id=f"{name}-{tag}", pool=settings.gpu.pool, argv=argv, devices=["0"],
            priority=priority,
        )  # fmt: skip

    queue = settings.queues.orchestrator
    async with pool_workers(client, settings):
        coordinator = client.get_workflow_handle(settings.gpu.coordinator_id)
        stubborn = await client.start_workflow(
            GpuJobWorkflow.run, job("stubborn", 5), id=f"stubborn-{tag}", task_queue=queue
        )
        for _ in range(100):  # it holds GPU 0 (the coordinator starts with its request)
            with contextlib.suppress(RPCError):
                view = await coordinator.query(names.GPU_POOL_QUERY, result_type=PoolView)
                if view.leases:
                    break
            await asyncio.sleep(0.1)
        fg = await client.start_workflow(
            GpuJobWorkflow.run, job("fg", 1), id=f"fg-{tag}", task_queue=queue
        )
        foreground: GpuJobResult = await fg.result()
        result: GpuJobResult = await stubborn.result()
        pool = await coordinator.query(names.GPU_POOL_QUERY, result_type=PoolView)

    assert foreground.exit_code == 0
    assert (result.exit_code, result.runs, result.pauses) == (0, 2, 1), result.output_tail
    assert result.output_tail.count("started") == 2 and "stubborn done" in result.output_tail
    assert pool.revoked == 1 and pool.preemptions == 1
