"""/v1/research: start, list, read, steer, follow (SSE) and report on research jobs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Response, status
from fastapi.responses import JSONResponse
from sse_starlette import EventSourceResponse

from api import events
from api import research as jobs
from api.deps import GatewayDep, Reader, Writer
from api.models import CONFLICT, ERRORS, NOT_FOUND, Message, links
from api.research import JobStatus, ResearchJob, ResearchList, ResearchPending
from api.validation import JsonRoute
from naestro.contracts.research import (
    ResearchRequest,
    ResearchResult,
    ResearchView,
    SteerOutcome,
    SteerRequest,
)

router = APIRouter(
    route_class=JsonRoute, prefix="/v1/research", tags=["research"], responses=ERRORS
)
JobId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.:-]{1,200}$")]
IdemKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=r"^[A-Za-z0-9_.:-]{1,128}$",
        description="the same key returns the same job",
    ),
]
NO_WORKER: dict[int | str, dict[str, object]] = {
    503: {"model": Message, "description": "no worker answered the job's query"}
}


JOB_LINKS = links(
    "job_id",
    "job_id",
    GetJob=("get", "/v1/research/{job_id}"),
    SteerJob=("post", "/v1/research/{job_id}/steer"),
    JobReport=("get", "/v1/research/{job_id}/report"),
)


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ResearchJob,
    responses={202: {"links": JOB_LINKS}},
)
async def start_job(
    body: ResearchRequest, who: Writer, gw: GatewayDep, idempotency_key: IdemKey = None
) -> ResearchJob:
    """Start a research job. Its tenant is the credential's (a different `tenant` in the
    body is 422); an unknown policy is 422."""
    return await jobs.start(gw, who, body, idempotency_key)


@router.get("", response_model=ResearchList)
async def list_jobs(
    who: Reader,
    gw: GatewayDep,
    status_: Annotated[JobStatus | None, Query(alias="status")] = None,
) -> ResearchList:
    """This tenant's jobs (Temporal visibility), newest first; `?status=` filters on
    NaestroStatus."""
    return ResearchList(jobs=await jobs.list_jobs(gw, who, status_))


@router.get("/{job_id}", response_model=ResearchView, responses={**NOT_FOUND, **NO_WORKER})
async def get_job(job_id: JobId, who: Reader, gw: GatewayDep) -> ResearchView:
    return await jobs.view(gw, who, job_id)


@router.post(
    "/{job_id}/steer",
    response_model=SteerOutcome,
    responses={**NOT_FOUND, **CONFLICT, **NO_WORKER},
)
async def steer_job(job_id: JobId, body: SteerRequest, who: Writer, gw: GatewayDep) -> SteerOutcome:
    """Add or drop a question, redirect, change the budget, pause, resume or stop. A
    question or goal no prompt may be (NUL, a lone surrogate, control characters) is 422;
    a command the job's validator refuses, or a job that has ended, is 409 with the reason."""
    return await jobs.steer(gw, who, job_id, body)


@router.get(
    "/{job_id}/report",
    response_model=ResearchResult,
    responses={
        202: {"model": ResearchPending, "description": "still running: its view and digest"},
        **NOT_FOUND,
        **CONFLICT,
    },
)
async def job_report(job_id: JobId, who: Reader, gw: GatewayDep) -> ResearchResult | Response:
    """200 with the final result when the job is done; 202 with its view and latest digest
    while it runs; 409 when it ended without a report (failed, terminated, cancelled)."""
    answer = await jobs.report(gw, who, job_id)
    if isinstance(answer, ResearchPending):
        body = answer.model_dump(mode="json")
        return JSONResponse(body, status_code=status.HTTP_202_ACCEPTED)
    return answer


@router.get(
    "/{job_id}/events",
    responses={200: {"content": {"text/event-stream": {}}}, **NOT_FOUND},
    response_class=EventSourceResponse,
)
async def job_events(
    job_id: JobId,
    who: Reader,
    gw: GatewayDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> EventSourceResponse:
    """The job's progress log as server-sent events, resumable with Last-Event-ID (its
    numbering continues across continue-as-new)."""
    await jobs.owned(gw, who, job_id)
    after = events.resume_point(last_event_id)
    return EventSourceResponse(events.stream(gw, job_id, after, live=False), ping=10)
