"""The orchestrator worker: workflows plus their local activities (PII scan, routing)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pydantic
from temporalio.client import Client
from temporalio.worker import Worker

from activities.rollout import RolloutActivities
from naestro.errors import NaestroError
from workers.deps import Deps
from workers.runner import workflow_runner
from workers.versioning import deployment_config
from workflows.calibration import PiiCalibrationWorkflow
from workflows.consensus import ConsensusWorkflow
from workflows.gpu_job import GpuJobWorkflow
from workflows.gpu_pool import GpuPoolWorkflow
from workflows.ingest import IngestWorkflow
from workflows.research import ResearchWorkflow
from workflows.rollout import RolloutWorkflow
from workflows.task import TaskWorkflow
from workflows.verify import VerifyWorkflow

TASK_QUEUE = "naestro.orchestrator"
WORKFLOWS = [
    TaskWorkflow,
    ConsensusWorkflow,
    VerifyWorkflow,
    IngestWorkflow,
    PiiCalibrationWorkflow,
    RolloutWorkflow,
    GpuPoolWorkflow,
    GpuJobWorkflow,
    ResearchWorkflow,
]
# Deterministic failures: retrying the workflow task would fail the same way forever, so
# they fail the workflow with their message instead.
FAILURE_TYPES: list[type[BaseException]] = [NaestroError, pydantic.ValidationError]


def build_worker(client: Client, deps: Deps, task_queue: str = TASK_QUEUE) -> Worker:
    """Versioned as deps.settings.deploy says (workers/versioning.py): each workflow type's
    @workflow.defn declares whether its runs stay pinned or move to a newer version."""
    rollout = RolloutActivities(client)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=[
            deps.pii.scan,
            deps.pii.restore,
            deps.pii.review,
            deps.pii.calibrate,
            deps.routing.resolve_policy,
            deps.routing.route_call,
            deps.routing.report_outcomes,
            deps.approvals.notify,
            rollout.route,
            rollout.measure,
        ],
        # The PII activities are synchronous (CPU-bound regex work).
        activity_executor=ThreadPoolExecutor(max_workers=4),
        workflow_runner=workflow_runner(),
        workflow_failure_exception_types=FAILURE_TYPES,
        deployment_config=deployment_config(deps.settings.deploy),
    )
