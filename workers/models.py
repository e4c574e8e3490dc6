"""Model-call workers: one for the cloud queue, one per local engine (GPU-affine queues)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.worker import (
    CustomSlotSupplier,
    FixedSizeSlotSupplier,
    Worker,
    WorkerTuner,
)

from workers.deps import Deps

TASK_QUEUE = "naestro.models.cloud"


def build_worker(
    client: Client,
    deps: Deps,
    task_queue: str = TASK_QUEUE,
    max_concurrent: int = 64,
    graceful_shutdown: timedelta = timedelta(),
    slots: CustomSlotSupplier | None = None,
) -> Worker:
    """``graceful_shutdown``: how long in-flight calls may finish when the worker stops
    (a supervised engine draining). ``slots``: a GPU engine's admission (workers/gpu/slots.py)
    in place of a fixed ``max_concurrent``."""
    limits: dict[str, Any] = {"max_concurrent_activities": max_concurrent}
    if slots is not None:
        fixed = FixedSizeSlotSupplier(1)  # this worker runs no workflows or local activities
        tuner = WorkerTuner.create_composite(
            workflow_supplier=fixed,
            activity_supplier=slots,
            local_activity_supplier=fixed,
            nexus_supplier=fixed,
        )
        limits = {"tuner": tuner}
    return Worker(
        client,
        task_queue=task_queue,
        activities=[deps.models.complete],
        graceful_shutdown_timeout=graceful_shutdown,
        **limits,
    )
