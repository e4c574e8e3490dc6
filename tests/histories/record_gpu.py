"""Record the GPU pool coordinator's and a GPU job's histories (`make histories`): a
background job (priority 5) holds GPU 0 and checkpoints; a health report arrives; a
foreground job (priority 1) preempts it; the background job yields, resumes from its
checkpoint and completes. The coordinator never ends: its history is recorded mid-run.

The jobs and their workers as tests/gpu/test_pool.py runs them. Re-record only on purpose,
as with record.py.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from naestro import names  # noqa: E402
from naestro.contracts.gpu import (  # noqa: E402
    EngineGpuHealth,
    GpuHealthReport,
    GpuJobRequest,
    GpuJobResult,
)
from tests.gpu.test_pool import BACKGROUND, FOREGROUND, pool_settings, pool_workers  # noqa: E402
from tests.histories.recording import PREFIX, recorder_main, recording_env, save  # noqa: E402
from workflows.gpu_job import GpuJobWorkflow  # noqa: E402

POOL, JOB = PREFIX + "gpu_pool", PREFIX + "gpu_job"


async def main(force: bool) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        settings = pool_settings(tmp)
        for name, text in (("bg", BACKGROUND), ("fg", FOREGROUND)):
            (tmp / f"{name}.py").write_text(text)

        def job(name: str, priority: int) -> GpuJobRequest:
            argv = [sys.executable, str(tmp / f"{name}.py")]
            return GpuJobRequest(
                job_id=name, pool=settings.gpu.pool, argv=argv, devices=["0"], priority=priority
            )

        async with recording_env() as env, pool_workers(env.client, settings):
            client, queue = env.client, settings.queues.orchestrator
            bg = await client.start_workflow(
                GpuJobWorkflow.run, job("bg", 5), id=JOB, task_queue=queue
            )
            step = tmp / "data" / "gpu-jobs" / "bg" / "step"
            for _ in range(300):
                if step.exists() and int(step.read_text() or 0) >= 5:
                    break
                await asyncio.sleep(0.1)
            coordinator = client.get_workflow_handle(settings.gpu.coordinator_id)
            report = GpuHealthReport(
                pool=settings.gpu.pool,
                engines=[EngineGpuHealth(engine_id="slm", devices=["0"])],
                at=datetime.now(UTC),
            )
            await coordinator.signal(names.GPU_HEALTH_SIGNAL, report)
            fg = await client.start_workflow(
                GpuJobWorkflow.run, job("fg", 1), id=f"{JOB}-foreground", task_queue=queue
            )
            await fg.result()
            result: GpuJobResult = await bg.result()
            if result.pauses != 1:
                raise SystemExit(f"{JOB}: paused {result.pauses} times, not once")
            save(JOB, await bg.fetch_history(), force=force)
            save(POOL, await coordinator.fetch_history(), force=force)


if __name__ == "__main__":
    recorder_main(__doc__ or "", [POOL, JOB], main)
