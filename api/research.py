"""What the research endpoints do, for a caller: start, read, list, steer and report on
ResearchWorkflows through the client functions the CLI uses (naestro/client.py), with the
same tenancy as tasks (a job of another tenant does not exist)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from temporalio.client import WorkflowExecution, WorkflowExecutionStatus
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.research.store import ResearchStore
from api.auth import Principal
from api.models import ExecutionState
from api.service import ApiError, Gateway
from api.views import LIST_LIMIT, execution_state, visibility_query
from naestro import client as ops
from naestro import names, search
from naestro.connect import workflow_url
from naestro.contracts.research import (
    ResearchRequest,
    ResearchResult,
    ResearchView,
    SteerCommand,
    SteerOutcome,
    StoredReport,
)
from naestro.errors import NaestroError, SteerRejected

# NaestroStatus of a research job: while it runs, then how it ended (workflows/research.py)
JobStatus = Literal[
    "running",
    "waiting",
    "paused",
    "reporting",
    "succeeded",
    "stopped",
    "budget_exhausted",
    "unconverged",
    "failed",
]


class ResearchJob(BaseModel):
    """A job as a list row (from its search attributes) or as started."""

    job_id: str
    tenant: str
    state: ExecutionState
    status: str | None = None  # NaestroStatus (JobStatus)
    phase: str | None = None
    cost_usd: float | None = None
    goal: str | None = None  # running jobs' only (from their view)
    iteration: int | None = None
    url: str = ""


class ResearchList(BaseModel):
    jobs: list[ResearchJob]


class ResearchPending(BaseModel):
    """A report asked of a job that is still running (202): where it stands, and its
    latest digest when memory is on."""

    job_id: str
    state: ExecutionState
    view: ResearchView | None = None  # None: no worker answered its query just now
    latest: StoredReport | None = None


@contextmanager
def api_errors() -> Iterator[None]:
    """Client errors as HTTP answers: unknown 404, refused or ended 409, no worker 503."""
    try:
        yield
    except ops.UnknownResearchError as exc:
        raise ApiError(404, str(exc)) from None
    except (SteerRejected, ops.ResearchNotRunning) as exc:
        raise ApiError(409, str(exc)) from None
    except ops.NoWorkerError as exc:
        raise ApiError(503, str(exc), {"Retry-After": "5"}) from None
    except NaestroError as exc:
        raise ApiError(502, str(exc)) from None


def job_id_for(tenant: str, key: str) -> str:
    digest = hashlib.sha256(f"research\0{tenant}\0{key}".encode()).hexdigest()[:24]
    return names.RESEARCH_ID_PREFIX + digest


async def owned(gw: Gateway, who: Principal, job_id: str) -> WorkflowExecutionStatus | None:
    """The job's execution status; 404 when it does not exist or is another tenant's."""
    with api_errors():
        desc = await ops.describe_research(gw.client, job_id)
    tenant = desc.typed_search_attributes.get(search.TENANT)
    if tenant != who.tenant and not who.allows("admin"):
        raise ApiError(404, f"no research job with id {job_id!r}")
    return desc.status


def _invalid(field: str, msg: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("body", field), "msg": msg, "type": "value_error"}])


def to_request(gw: Gateway, who: Principal, body: ResearchRequest) -> ResearchRequest:
    """The body as the caller's job: its tenant is the credential's, its policy known."""
    if "tenant" in body.model_fields_set and body.tenant != who.tenant:
        raise _invalid("tenant", f"set by your credential ({who.tenant!r}); leave it out")
    if body.policy not in gw.settings.policies:
        known = ", ".join(sorted(gw.settings.policies))
        raise _invalid("policy", f"unknown policy {body.policy!r} (known: {known})")
    return body.model_copy(update={"tenant": who.tenant})


async def start(gw: Gateway, who: Principal, body: ResearchRequest, key: str | None) -> ResearchJob:
    request = to_request(gw, who, body)
    job_id = job_id_for(who.tenant, key) if key else ops.new_research_id()
    try:
        await ops.start_research(
            gw.client, request, job_id=job_id, task_queue=gw.settings.queues.orchestrator
        )
    except WorkflowAlreadyStartedError:
        pass  # the idempotency key names a job that has finished: that job
    status = await owned(gw, who, job_id)
    return ResearchJob(
        job_id=job_id,
        tenant=who.tenant,
        state=execution_state(status),
        status="running" if status == WorkflowExecutionStatus.RUNNING else None,
        url=workflow_url(job_id, gw.client.namespace),
    )


async def view(gw: Gateway, who: Principal, job_id: str) -> ResearchView:
    await owned(gw, who, job_id)
    with api_errors():
        return await ops.research_view(gw.client, job_id)


async def steer(gw: Gateway, who: Principal, job_id: str, body: SteerCommand) -> SteerOutcome:
    """The steering update, sent as the caller (``by``); the validator's refusal is 409."""
    await owned(gw, who, job_id)
    command = body.model_copy(update={"by": f"{who.kind}:{who.subject}"})
    with api_errors():
        return await ops.steer_research(gw.client, job_id, command)


async def report(gw: Gateway, who: Principal, job_id: str) -> ResearchResult | ResearchPending:
    """The final result when the job is done; else where it stands and its latest digest."""
    status = await owned(gw, who, job_id)
    with api_errors():
        result = await ops.research_result(gw.client, job_id)
    if result is not None:
        return result
    try:
        current: ResearchView | None = await ops.research_view(gw.client, job_id)
    except NaestroError:
        current = None
    return ResearchPending(
        job_id=job_id,
        state=execution_state(status),
        view=current,
        latest=await _latest(gw, job_id),
    )


async def _latest(gw: Gateway, job_id: str) -> StoredReport | None:
    """The newest digest, read from the gateway's database (memory's, when both use
    DATABASE_URL, the default); None when memory is off."""
    if not gw.settings.memory.enabled:
        return None

    async def pool() -> Any:
        return gw.pool

    return await ResearchStore(pool).latest_report(job_id)


def _row(execution: WorkflowExecution, tenant: str, namespace: str) -> ResearchJob:
    attrs = execution.typed_search_attributes
    return ResearchJob(
        job_id=execution.id,
        tenant=attrs.get(search.TENANT) or tenant,
        state=execution_state(execution.status),
        status=attrs.get(search.STATUS),
        phase=attrs.get(search.PHASE),
        cost_usd=attrs.get(search.COST),
        url=workflow_url(execution.id, namespace),
    )


async def _with_view(gw: Gateway, row: ResearchJob) -> ResearchJob:
    if row.state != "running":
        return row
    try:
        current = await ops.research_view(gw.client, row.job_id)
    except NaestroError:
        return row
    return row.model_copy(update={"goal": current.goal, "iteration": current.iteration})


async def list_jobs(gw: Gateway, who: Principal, status: str | None) -> list[ResearchJob]:
    """The caller's tenant's jobs through visibility, newest first; running ones with
    their goal and iteration."""
    query = visibility_query(who.tenant, status, None, workflow_type=names.RESEARCH_WORKFLOW)
    rows = [
        _row(execution, who.tenant, gw.client.namespace)
        async for execution in gw.client.list_workflows(query, limit=LIST_LIMIT)
    ]
    return list(await asyncio.gather(*(_with_view(gw, row) for row in rows)))
