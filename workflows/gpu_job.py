"""GpuJobWorkflow: one GPU job (`naestro gpus run`) through the run_job activity, on the
jobs queue of the job's pool (``naestro.gpu.<pool>``, polled only by that node's workers).

The activity holds the lease, pauses the job when higher-priority work preempts it and
resumes it (activities/gpu/jobs.py); this workflow gives it a heartbeat timeout, so a dead
worker's job is started again elsewhere on the node from its checkpoint, and a few
attempts for failures of the machinery (a job's own non-zero exit is not retried).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import VersioningBehavior

from activities.gpu.jobs import GpuJobActivities
from naestro import names
from naestro.config.settings import GpuConfig
from naestro.contracts.gpu import GpuJobRequest, GpuJobResult
from naestro.presets import GPU_JOB


@workflow.defn(name=names.GPU_JOB_WORKFLOW, versioning_behavior=VersioningBehavior.PINNED)
class GpuJobWorkflow:
    @workflow.run
    async def run(self, request: GpuJobRequest) -> GpuJobResult:
        devices = ",".join(request.devices)
        return await workflow.execute_activity_method(
            GpuJobActivities.run_job,
            request,
            task_queue=GpuConfig(pool=request.pool).jobs_queue,
            start_to_close_timeout=timedelta(seconds=request.timeout_seconds),
            heartbeat_timeout=GPU_JOB.heartbeat,
            retry_policy=GPU_JOB.retry,
            summary=f"{request.job_id} on GPU {devices} (priority {request.priority})",
        )
