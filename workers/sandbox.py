"""The sandbox worker: verification runs, at most `sandbox_concurrency` at once.

Workspace archives come from the blob store in the memory database (``$DATABASE_URL``, or
``memory.database_url_env``), through the memory service's pool: opened on the first
workspace, closed with the worker's other clients.
"""

from __future__ import annotations

from temporalio.client import Client
from temporalio.worker import Worker

from activities.sandbox.activity import BlobGetter
from naestro.blobs import BlobMissing, BlobStore
from naestro.contracts.blobs import BlobRef
from naestro.errors import WorkspaceError
from workers.deps import Deps

TASK_QUEUE = "naestro.sandbox"


def blob_getter(deps: Deps) -> BlobGetter:
    """Reads a workspace's archive; a blob that is not there is the task's error."""

    async def get(ref: BlobRef) -> bytes:
        store = BlobStore(await deps.memory.service.pool())
        try:
            return await store.get(ref)
        except BlobMissing as exc:
            raise WorkspaceError(str(exc)) from exc

    return get


def build_worker(
    client: Client, deps: Deps, task_queue: str = TASK_QUEUE, max_concurrent: int = 8
) -> Worker:
    deps.sandbox.attach_blobs(blob_getter(deps))
    return Worker(
        client,
        task_queue=task_queue,
        # Checks of answers (maths, JSON schema): like a sandbox run, CPU-bound work on
        # model output, bounded by this queue's concurrency, away from workflow tasks.
        activities=[deps.sandbox.verify, deps.checks.answer],
        max_concurrent_activities=max_concurrent,
    )
