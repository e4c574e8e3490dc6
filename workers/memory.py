"""The memory worker: retrieval, ingestion, task write-back, feedback and research jobs'
findings and reports (Postgres)."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.worker import Worker

from workers.deps import Deps

TASK_QUEUE = "naestro.memory"


def build_worker(
    client: Client, deps: Deps, task_queue: str = TASK_QUEUE, max_concurrent: int = 16
) -> Worker:
    m, r = deps.memory, deps.research
    return Worker(
        client,
        task_queue=task_queue,
        activities=[
            *(m.search, m.recall, m.write_back, m.feedback, m.ingest),
            *(r.save_findings, r.findings, r.save_report),
        ],
        max_concurrent_activities=max_concurrent,
    )
