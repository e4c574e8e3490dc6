"""Model-call workers: one for the cloud queue, one per local engine (GPU-affine queues)."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.worker import Worker

from workers.deps import Deps

TASK_QUEUE = "naestro.models.cloud"


def build_worker(
    client: Client, deps: Deps, task_queue: str = TASK_QUEUE, max_concurrent: int = 64
) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        activities=[deps.models.complete],
        max_concurrent_activities=max_concurrent,
    )
