"""The sandbox worker: verification runs, at most `sandbox_concurrency` at once."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.worker import Worker

from workers.deps import Deps

TASK_QUEUE = "naestro.sandbox"


def build_worker(
    client: Client, deps: Deps, task_queue: str = TASK_QUEUE, max_concurrent: int = 8
) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        activities=[deps.sandbox.verify],
        max_concurrent_activities=max_concurrent,
    )
