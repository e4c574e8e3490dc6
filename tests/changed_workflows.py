"""Workflow changes for the replay gate's proof (tests/test_replay_gate.py): today's workflows
with one new command before their run, registered under the real names, as a deploy of a
non-deterministic change would register them.

The sandbox imports the module of every workflow class it runs, so this one holds only the
classes and what workflow code may import.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import VersioningBehavior
from temporalio.exceptions import ApplicationError

from naestro import names
from naestro.contracts import TaskRequest, TaskResult
from naestro.contracts.memory import IngestReport, IngestRequest
from workflows.ingest import IngestWorkflow
from workflows.task import TaskWorkflow

NEW_STEP = timedelta(seconds=1)  # a durable timer: a command no recorded history holds


@workflow.defn(
    name=names.TASK_WORKFLOW,
    failure_exception_types=[ApplicationError],
    versioning_behavior=VersioningBehavior.PINNED,
)
class TaskWithNewStep(TaskWorkflow):
    @workflow.run
    async def run(self, request: TaskRequest) -> TaskResult:
        await workflow.sleep(NEW_STEP)
        return await super().run(request)


@workflow.defn(name=names.INGEST_WORKFLOW, versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
class IngestWithNewStep(IngestWorkflow):
    @workflow.run
    async def run(self, request: IngestRequest) -> IngestReport:
        await workflow.sleep(NEW_STEP)
        return await super().run(request)
