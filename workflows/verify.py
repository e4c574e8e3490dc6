"""VerifyWorkflow: one sandbox run through the Verify activity, for `naestro eval` and any
client that wants a verification report without a whole task."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import VersioningBehavior

from activities.sandbox.activity import SandboxActivities
from naestro import names
from naestro.contracts import VerificationReport, VerifyJob
from naestro.presets import SANDBOX_RUN

# Beyond the run's own wall limit: container start-up, file transfer and the report.
_SLACK_S = 60


@workflow.defn(name=names.VERIFY_WORKFLOW, versioning_behavior=VersioningBehavior.PINNED)
class VerifyWorkflow:
    @workflow.run
    async def run(self, job: VerifyJob) -> VerificationReport:
        wall = job.request.limits.wall_seconds
        return await workflow.execute_activity_method(
            SandboxActivities.verify,
            job.request,
            task_queue=job.sandbox_task_queue,
            start_to_close_timeout=timedelta(seconds=wall + _SLACK_S),
            heartbeat_timeout=SANDBOX_RUN.heartbeat,
            retry_policy=SANDBOX_RUN.retry,
            summary=f"verify {len(job.request.files)} file(s)",
        )
