"""Client-side operations shared by the CLI and the API: tasks (start, follow, cancel) and
research jobs (start, view, steer, follow, result). Workflows are named, never imported."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import NamedTuple

from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import (
    PinnedVersioningOverride,
    Priority,
    WorkerDeploymentVersion,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import TerminatedError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from naestro import names, rollouts, search
from naestro.connect import NO_WORKER_ANSWER
from naestro.contracts import (
    CancelRequest,
    TaskEvent,
    TaskRequest,
    TaskResult,
    TaskStatusName,
    TaskStatusView,
)
from naestro.contracts.research import (
    ResearchInput,
    ResearchRequest,
    ResearchResult,
    ResearchView,
    SteerCommand,
    SteerOutcome,
)
from naestro.errors import NaestroError, SteerRejected

log = logging.getLogger(__name__)
DEFAULT_QUEUE = "naestro.orchestrator"
SHADOW_SUFFIX = ".shadow"  # a shadow task's id: its user's task id + this
FAIRNESS_KEY_BYTES = 64  # Temporal's limit on a fairness key
QUERY_SECONDS = 10  # a worker answers a query in milliseconds; none in this long is none
UPDATE_SECONDS = 30  # a steering update is validated and answered in one workflow task


class UnknownTaskError(NaestroError):
    """No task with that id."""


def fairness_key(tenant: str) -> str:
    """The tenant as Temporal's fairness key: itself when it fits the 64 bytes, else a digest
    (a tenant may be 100 characters; its sha256 names it as uniquely)."""
    if len(tenant.encode()) <= FAIRNESS_KEY_BYTES:
        return tenant
    return "sha256:" + hashlib.sha256(tenant.encode()).hexdigest()[: FAIRNESS_KEY_BYTES - 7]


def dispatch_priority(priority: int, tenant: str) -> Priority:
    """How a task's or research job's work is dispatched from every queue's backlog (its
    activities and children inherit it): by priority first, then shared fairly between
    tenants within a priority level, so one tenant's flood does not starve another's."""
    return Priority(priority_key=priority, fairness_key=fairness_key(tenant))


def new_task_id() -> str:
    return f"task-{uuid.uuid4().hex[:12]}"


def task_id_problem(task_id: str) -> str | None:
    """Why a chosen task id is refused, or None: it must be one the API's paths can name
    (names.TASK_ID_PATTERN; the message is the API's 422 one)."""
    if re.fullmatch(names.TASK_ID_PATTERN, task_id):
        return None
    return f"String should match pattern '{names.TASK_ID_PATTERN}'"


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
        priority=dispatch_priority(request.priority, request.tenant),
        search_attributes=search.initial(
            request.kind, request.tenant, request.priority, policy=request.policy
        ),
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
            priority=dispatch_priority(request.priority, request.tenant),
            search_attributes=search.initial(
                request.kind, request.tenant, request.priority, policy=request.policy, shadow=True
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


# A task whose execution closed without completing: the task status that stands for, whatever
# its last status query said (it said "running" when the workflow failed mid-phase).
ENDED_STATUS: dict[WorkflowExecutionStatus, TaskStatusName] = {
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.TERMINATED: "failed",
    WorkflowExecutionStatus.TIMED_OUT: "failed",
    WorkflowExecutionStatus.CANCELED: "cancelled",
}


def state_name(status: WorkflowExecutionStatus | None) -> str:
    """The execution's state as the API and the CLI spell it: running, completed, failed,
    terminated, timed_out, cancelled, continued_as_new."""
    name = status.name.lower() if status else "running"
    return "cancelled" if name == "canceled" else name


class TaskEnding(NamedTuple):
    """Why a task's execution closed without completing."""

    status: TaskStatusName  # failed, or cancelled
    error: str  # the workflow failure's message and its innermost cause, or the reason given


def ending_status(status: WorkflowExecutionStatus | None) -> TaskStatusName | None:
    return ENDED_STATUS.get(status) if status is not None else None


async def task_ending(
    client: Client, task_id: str, status: WorkflowExecutionStatus | None
) -> TaskEnding | None:
    """The one answer to "why did it end" for the API's view and `naestro status`: None while
    the task runs or once it completed (its result says how it went)."""
    ended = ending_status(status)
    if ended is None:
        return None
    try:
        await task_handle(client, task_id).result()
    except WorkflowFailureError as exc:
        return TaskEnding(ended, failure_message(exc))
    return TaskEnding(ended, f"the task's run is {state_name(status)}")  # a newer run completed


def failure_message(exc: WorkflowFailureError) -> str:
    """The workflow failure's message, then its cause chain's innermost message when that says
    more (an activity's own error under "pii failed: ..."); a termination's reason."""
    failure = exc.cause or exc
    outer = _message(failure)
    inner: BaseException = failure
    while inner.__cause__ is not None:
        inner = inner.__cause__
    deepest = _message(inner)
    return outer if not deepest or deepest in outer else f"{outer}: {deepest}"


def _message(exc: BaseException) -> str:
    text = str(getattr(exc, "message", "") or exc).strip()
    if isinstance(exc, TerminatedError):
        return f"terminated: {text}" if text else "terminated"
    return text or type(exc).__name__


async def cancel_task(client: Client, task_id: str, reason: str) -> None:
    status = await describe_status(client, task_id)
    if status != WorkflowExecutionStatus.RUNNING:
        name = status.name.lower() if status else "unknown"
        raise NaestroError(f"task {task_id} is not running (it is {name})")
    await task_handle(client, task_id).signal(names.CANCEL_SIGNAL, CancelRequest(reason=reason))


# Research jobs (ResearchWorkflow, by name: names.RESEARCH_*)


class UnknownResearchError(NaestroError):
    """No research job with that id."""


class ResearchNotRunning(NaestroError):
    """A research job that has ended cannot be steered (or has no report yet, if it failed)."""


def new_research_id() -> str:
    return f"{names.RESEARCH_ID_PREFIX}{uuid.uuid4().hex[:12]}"


def research_handle(client: Client, job_id: str) -> WorkflowHandle[object, ResearchResult]:
    """The job's handle with no run id: queries and updates reach its current run, across
    continue-as-new, and ``result()`` follows the runs to the last."""
    return client.get_workflow_handle(job_id, result_type=ResearchResult)


async def start_research(
    client: Client,
    request: ResearchRequest,
    *,
    job_id: str | None = None,
    task_queue: str = DEFAULT_QUEUE,
) -> WorkflowHandle[object, ResearchResult]:
    """Start a ResearchWorkflow, findable by its search attributes from its first moment.

    A job id of a running job returns that job (idempotent); one of a finished job raises
    ``WorkflowAlreadyStartedError``. The summary names no goal: it may hold PII."""
    job_id = job_id or new_research_id()
    await client.start_workflow(
        names.RESEARCH_WORKFLOW,
        ResearchInput(request=request),
        id=job_id,
        task_queue=task_queue,
        result_type=ResearchResult,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        priority=dispatch_priority(request.priority, request.tenant),
        search_attributes=search.research_initial(request.tenant, request.priority),
        static_summary=f"research job, policy {request.policy}, tenant {request.tenant}",
    )
    return research_handle(client, job_id)


async def describe_research(client: Client, job_id: str) -> WorkflowExecutionDescription:
    """The job's current run; UnknownResearchError when there is none (or it is no job)."""
    try:
        desc = await research_handle(client, job_id).describe()
    except RPCError as exc:
        if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
            raise UnknownResearchError(f"no research job with id {job_id!r}") from None
        raise
    if desc.workflow_type != names.RESEARCH_WORKFLOW:
        raise UnknownResearchError(f"no research job with id {job_id!r}")
    return desc


def _no_worker(job_id: str) -> NoWorkerError:
    return NoWorkerError(
        f"research job {job_id}: no worker answered for its queue (start `naestro dev` or "
        "`naestro worker`)"
    )


async def research_view(client: Client, job_id: str) -> ResearchView:
    """Where the job stands (the research query), from its current run."""
    await describe_research(client, job_id)
    try:
        view: ResearchView = await research_handle(client, job_id).query(
            names.RESEARCH_QUERY,
            result_type=ResearchView,
            rpc_timeout=timedelta(seconds=QUERY_SECONDS),
        )
    except WorkflowQueryFailedError as exc:
        raise NaestroError(f"research job {job_id}: its view failed: {exc}") from None
    except RPCError as err:
        if err.status not in NO_WORKER_ANSWER:
            raise
        raise _no_worker(job_id) from None
    return view


def _refusal(exc: WorkflowUpdateFailedError) -> str:
    cause = exc.cause
    message = getattr(cause, "message", None) or str(cause or exc)
    return str(message)


async def steer_research(client: Client, job_id: str, command: SteerCommand) -> SteerOutcome:
    """Send a steering command (the update). The workflow's validator refuses a bad one
    before it enters history: SteerRejected, with the validator's message."""
    desc = await describe_research(client, job_id)
    if desc.status != WorkflowExecutionStatus.RUNNING:
        name = desc.status.name.lower() if desc.status else "unknown"
        raise ResearchNotRunning(f"research job {job_id} is not running (it is {name})")
    try:
        outcome: SteerOutcome = await research_handle(client, job_id).execute_update(
            names.RESEARCH_STEER_UPDATE,
            command,
            result_type=SteerOutcome,
            rpc_timeout=timedelta(seconds=UPDATE_SECONDS),
        )
    except WorkflowUpdateFailedError as exc:
        raise SteerRejected(f"steering refused: {_refusal(exc)}") from None
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise _no_worker(job_id) from None
    return outcome


async def research_result(client: Client, job_id: str) -> ResearchResult | None:
    """The final result of a completed job; None while it runs. A job that failed, was
    terminated, cancelled or timed out has none: ResearchNotRunning names its state."""
    desc = await describe_research(client, job_id)
    if desc.status == WorkflowExecutionStatus.RUNNING:
        return None
    if desc.status != WorkflowExecutionStatus.COMPLETED:
        name = desc.status.name.lower() if desc.status else "unknown"
        raise ResearchNotRunning(f"research job {job_id} ended without a report (it is {name})")
    result: ResearchResult = await research_handle(client, job_id).result()
    return result


async def research_events(client: Client, job_id: str, after: int) -> list[TaskEvent]:
    """The job's progress log after sequence number ``after`` ([] while not queryable)."""
    try:
        events: list[TaskEvent] = await research_handle(client, job_id).query(
            names.EVENTS_QUERY,
            after,
            result_type=list[TaskEvent],
            rpc_timeout=timedelta(seconds=QUERY_SECONDS),
        )
    except (RPCError, WorkflowQueryFailedError):
        return []  # its first workflow task has not run yet, or it is between runs
    return events


async def follow_research(
    client: Client,
    job_id: str,
    on_event: Callable[[TaskEvent], None],
    interval: float = 0.5,
) -> ResearchResult:
    """Wait for the final report, passing each progress event on once, in order."""
    result_task = asyncio.ensure_future(research_handle(client, job_id).result())
    after = 0
    try:
        while True:
            finished = result_task.done()  # then one last read: the final events too
            for event in await research_events(client, job_id, after):
                after = event.seq
                on_event(event)
            if finished:
                return result_task.result()
            await asyncio.wait({result_task}, timeout=interval)
    finally:
        result_task.cancel()
