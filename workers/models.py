"""Model-call workers: one for the cloud queue, one per local engine (GPU-affine queues)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from workers.deps import Deps

TASK_QUEUE = "naestro.models.cloud"


def build_worker(
    client: Client,
    deps: Deps,
    task_queue: str = TASK_QUEUE,
    max_concurrent: int = 64,
    graceful_shutdown: timedelta = timedelta(),
) -> Worker:
    """``graceful_shutdown``: how long in-flight calls may finish when the worker stops
    (a supervised engine draining)."""
    return Worker(
        client,
        task_queue=task_queue,
        activities=[deps.models.complete],
        max_concurrent_activities=max_concurrent,
        graceful_shutdown_timeout=graceful_shutdown,
    )
