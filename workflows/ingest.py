"""IngestWorkflow: a large ingest as one heartbeating activity on the memory queue.

The activity heartbeats the index of the last file it stored; a retry (worker crash,
deploy) resumes after it, and content hashes skip anything stored twice.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import VersioningBehavior

from activities.memory.activity import MemoryActivities
from naestro import names
from naestro.contracts.memory import IngestReport, IngestRequest
from naestro.presets import INGEST_RUN

WORKFLOW_NAME = names.INGEST_WORKFLOW
MEMORY_QUEUE = "naestro.memory"


@workflow.defn(name=WORKFLOW_NAME, versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
class IngestWorkflow:
    @workflow.run
    async def run(self, request: IngestRequest) -> IngestReport:
        queue = request.task_queue or MEMORY_QUEUE
        report: IngestReport = await workflow.execute_activity_method(
            MemoryActivities.ingest,
            request,
            task_queue=queue,
            start_to_close_timeout=INGEST_RUN.start_to_close,
            heartbeat_timeout=INGEST_RUN.heartbeat,
            retry_policy=INGEST_RUN.retry,
            summary=f"ingest {len(request.paths)} path(s) into {request.collection}",
        )
        return report
