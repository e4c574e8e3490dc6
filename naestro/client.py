"""Client-side task operations shared by the CLI and the API: start, follow, cancel."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import (
    PinnedVersioningOverride,
    Priority,
    WorkerDeploymentVersion,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from naestro import names, rollouts, search
from naestro.connect import NO_WORKER_ANSWER
from naestro.contracts import CancelRequest, TaskRequest, TaskResult, TaskStatusView
from naestro.errors import NaestroError

log = logging.getLogger(__name__)
DEFAULT_QUEUE = "naestro.orchestrator"
SHADOW_SUFFIX = ".shadow"  # a shadow task's id: its user's task id + this
QUERY_SECONDS = 10  # a worker answers a query in milliseconds; none in this long is none


class UnknownTaskError(NaestroError):
    """No task with that id."""


def new_task_id() -> str:
    return f"task-{uuid.uuid4().hex[:12]}"


async def start_task(
    client: Client,
    request: TaskRequest,
    *,
    task_id: str | None = None,
    task_queue: str = DEFAULT_QUEUE,
    deployment: str | None = None,
) -> WorkflowHandle[object, TaskResult]:
    """Start a TaskWorkflow (with its search attributes and summary for the Temporal UI).

    A task id already used by a running task returns that task (idempotent); one used by a
    finished task raises ``WorkflowAlreadyStartedError``. ``deployment``: the worker
    deployment whose shadow rollout, if one measures, gets a mirror of its share of tasks."""
    summary = f"{request.kind} task, policy {request.policy}, tenant {request.tenant}"
    handle: WorkflowHandle[object, TaskResult] = await client.start_workflow(
        names.TASK_WORKFLOW,
        request,
        id=task_id or new_task_id(),
        task_queue=task_queue,
        result_type=TaskResult,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        priority=Priority(priority_key=request.priority),
        search_attributes=search.initial(request.kind, request.tenant, request.priority),
        static_summary=summary,
    )
    if deployment is not None:
        await _mirror(client, request, handle.id, task_queue, deployment)
    return handle


async def _mirror(
    client: Client, request: TaskRequest, task_id: str, task_queue: str, deployment: str
) -> None:
    """A shadow rollout's copy of the task, pinned to the candidate version. Its answer
    reaches no one; failing to start it never fails the user's task."""
    target = await rollouts.shadow_target(client, deployment)
    if target is None or not rollouts.in_share(task_id, target.percent):
        return
    try:
        await client.start_workflow(
            names.TASK_WORKFLOW,
            request,
            id=task_id + SHADOW_SUFFIX,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            priority=Priority(priority_key=request.priority),
            search_attributes=search.initial(
                request.kind, request.tenant, request.priority, shadow=True
            ),
            versioning_override=PinnedVersioningOverride(
                WorkerDeploymentVersion(target.deployment, target.build_id)
            ),
            static_summary=f"shadow of {task_id} on {target.build_id}",
        )
    except (RPCError, WorkflowAlreadyStartedError) as err:
        log.warning("shadow of %s not started: %s", task_id, err)


def task_handle(client: Client, task_id: str) -> WorkflowHandle[object, TaskResult]:
    return client.get_workflow_handle(task_id, result_type=TaskResult)


async def describe_status(client: Client, task_id: str) -> WorkflowExecutionStatus | None:
    try:
        desc = await task_handle(client, task_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise UnknownTaskError(f"no task with id {task_id!r}") from None
        raise
    return desc.status


class NoWorkerError(NaestroError):
    """A running task's progress cannot be read: no worker polls its queue."""


async def query_status(client: Client, task_id: str) -> TaskStatusView:
    await describe_status(client, task_id)
    try:
        view: TaskStatusView = await task_handle(client, task_id).query(
            "status", result_type=TaskStatusView, rpc_timeout=timedelta(seconds=QUERY_SECONDS)
        )
    except RPCError as err:
        if err.status not in NO_WORKER_ANSWER:
            raise
        raise NoWorkerError(
            f"task {task_id}: no worker answered for its queue, so its progress cannot be "
            "read (start `naestro dev` or `naestro worker`)"
        ) from None
    return view


async def cancel_task(client: Client, task_id: str, reason: str) -> None:
    status = await describe_status(client, task_id)
    if status != WorkflowExecutionStatus.RUNNING:
        name = status.name.lower() if status else "unknown"
        raise NaestroError(f"task {task_id} is not running (it is {name})")
    await task_handle(client, task_id).signal(names.CANCEL_SIGNAL, CancelRequest(reason=reason))


async def follow(
    handle: WorkflowHandle[object, TaskResult],
    on_status: Callable[[TaskStatusView], Awaitable[None] | None],
    interval: float = 0.5,
) -> TaskResult:
    """Wait for the result, reporting the status query's view as it changes."""
    result_task = asyncio.ensure_future(handle.result())
    last: TaskStatusView | None = None
    try:
        while not result_task.done():
            try:
                view = await handle.query(names.STATUS_QUERY, result_type=TaskStatusView)
            except RPCError:
                view = None  # the first workflow task may not have run yet
            if view is not None and view != last:
                last = view
                shown = on_status(view)
                if shown is not None:
                    await shown
            await asyncio.wait({result_task}, timeout=interval)
        return result_task.result()
    finally:
        result_task.cancel()
