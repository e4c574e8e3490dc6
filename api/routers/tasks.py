"""/v1/tasks: start (idempotent, cached), read, list, follow (SSE) and cancel tasks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Response, status
from sse_starlette import EventSourceResponse

from api import events, service, views
from api.cache import BYPASS_HEADER
from api.deps import GatewayDep, Reader, Writer
from api.models import (
    CONFLICT,
    ERRORS,
    NOT_FOUND,
    CancelBody,
    FeedbackBody,
    FeedbackReceipt,
    Message,
    TaskCreate,
    TaskList,
    TaskView,
    links,
)
from api.validation import JsonRoute
from naestro import names
from naestro.contracts import TaskKind, TaskStatusName

router = APIRouter(route_class=JsonRoute, prefix="/v1/tasks", tags=["tasks"], responses=ERRORS)
TaskId = Annotated[str, Path(pattern=names.TASK_ID_PATTERN)]
IdemKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=r"^[A-Za-z0-9_.:-]{1,128}$",
        description="the same key returns the same task",
    ),
]

TASK_LINKS = links(
    "task_id",
    "task_id",
    GetTask=("get", "/v1/tasks/{task_id}"),
    CancelTask=("post", "/v1/tasks/{task_id}/cancel"),
    DecideTask=("post", "/v1/tasks/{task_id}/approval"),
    ReportTask=("post", "/v1/tasks/{task_id}/feedback"),
)


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TaskView,
    responses={
        200: {"model": TaskView, "description": "answered from the response cache"},
        202: {"links": TASK_LINKS},
        413: {"model": Message},
        **NOT_FOUND,
    },
)
async def create_task(
    body: TaskCreate,
    who: Writer,
    gw: GatewayDep,
    response: Response,
    idempotency_key: IdemKey = None,
    cache: Annotated[str | None, Header(alias=BYPASS_HEADER)] = None,
) -> TaskView:
    if idempotency_key:  # the key names a task: that task, whatever its state
        task_id = service.idempotent_id(who.tenant, idempotency_key)
        if await service.exists(gw, task_id):
            return await views.task_view(gw, who, task_id)
    view = await service.submit(gw, who, body, idempotency_key, use_cache=cache != "bypass")
    response.headers[BYPASS_HEADER] = "hit" if view.cached else "miss"
    if view.cached:
        response.status_code = status.HTTP_200_OK
    return view


@router.get("", response_model=TaskList)
async def list_tasks(
    who: Reader,
    gw: GatewayDep,
    status_: Annotated[TaskStatusName | None, Query(alias="status")] = None,
    kind: TaskKind | None = None,
    tenant: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_.:-]{1,100}$")] = None,
    policy: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_.:-]{1,100}$")] = None,
) -> TaskList:
    """The caller's tenant's tasks, newest first (`tenant`: an admin's choice of tenant)."""
    return TaskList(tasks=await views.list_tasks(gw, who, status_, kind, tenant, policy))


@router.get("/{task_id}", response_model=TaskView, responses=NOT_FOUND)
async def get_task(task_id: TaskId, who: Reader, gw: GatewayDep) -> TaskView:
    return await views.task_view(gw, who, task_id)


@router.get(
    "/{task_id}/events",
    responses={200: {"content": {"text/event-stream": {}}}, **NOT_FOUND},
    response_class=EventSourceResponse,
)
async def task_events(
    task_id: TaskId,
    who: Reader,
    gw: GatewayDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> EventSourceResponse:
    await service.owned(gw, who, task_id)
    after = events.resume_point(last_event_id)
    return EventSourceResponse(events.stream(gw, task_id, after), ping=10)


@router.post(
    "/{task_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Message,
    responses={**NOT_FOUND, **CONFLICT},
)
async def cancel_task(
    task_id: TaskId, who: Writer, gw: GatewayDep, body: CancelBody | None = None
) -> Message:
    await service.cancel(gw, who, task_id, (body or CancelBody()).reason)
    return Message(detail=f"cancel sent to task {task_id}")


@router.post(
    "/{task_id}/feedback",
    status_code=status.HTTP_201_CREATED,
    response_model=FeedbackReceipt,
    responses=NOT_FOUND,
)
async def report(
    task_id: TaskId, body: FeedbackBody, who: Reader, gw: GatewayDep
) -> FeedbackReceipt:
    """Report an issue with (or rate) a task's result; kept in Postgres with the reporter."""
    row_id = await service.feedback(gw, who, task_id, body.kind, body.comment)
    return FeedbackReceipt(id=row_id, task_id=task_id, kind=body.kind)
