"""The GPU jobs worker: `naestro gpus run` jobs on this node's GPUs, polling the pool's jobs
queue (``gpu.jobs_queue``: naestro.gpu.<pool>), at most ``gpu.jobs_concurrency`` at once."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.worker import Worker

from activities.gpu.jobs import GpuJobActivities
from workers.deps import Deps


def build_worker(client: Client, deps: Deps, task_queue: str, concurrency: int) -> Worker:
    jobs = GpuJobActivities(client, deps.settings)
    return Worker(
        client,
        task_queue=task_queue,
        activities=[jobs.run_job],
        max_concurrent_activities=concurrency,
    )
