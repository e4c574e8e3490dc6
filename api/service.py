"""What the endpoints do: start, query, signal and update TaskWorkflows for a caller.

Endpoints stay thin; this module holds the tenant check, idempotent starts, the response
cache and the approval update, shared by the REST and OpenAI-compatible routers.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from fastapi.exceptions import RequestValidationError
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.auth import Authenticator, Principal
from api.cache import ResponseCache, cache_key
from api.db import Pool
from api.limits import Backpressure, RateLimiter
from api.models import PRIORITY_KEYS, TaskCreate, TaskView
from naestro import names, search
from naestro.blobs import BlobStore
from naestro.checkers.validate import problems
from naestro.client import start_task
from naestro.config.settings import Settings, policy_for
from naestro.connect import workflow_url
from naestro.contracts import (
    ApprovalDecision,
    ApprovalOutcome,
    CancelRequest,
    TaskRequest,
    TaskResult,
    TaskStatusView,
)
from naestro.contracts.verify import VerifySpec
from naestro.errors import PayloadTooLarge


class ApiError(Exception):
    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


@dataclass
class Gateway:
    """Everything an endpoint needs, built once in the app's lifespan."""

    settings: Settings
    client: Client
    pool: Pool
    auth: Authenticator
    cache: ResponseCache
    limiter: RateLimiter
    backpressure: Backpressure

    def handle(self, task_id: str) -> WorkflowHandle[object, TaskResult]:
        return self.client.get_workflow_handle(task_id, result_type=TaskResult)

    @property
    def blobs(self) -> BlobStore:
        """Uploaded workspaces (and payloads kept by reference), in the gateway's database."""
        return BlobStore(self.pool)


def idempotent_id(tenant: str, key: str) -> str:
    return "task-" + hashlib.sha256(f"{tenant}\0{key}".encode()).hexdigest()[:24]


def to_request(gw: Gateway, body: TaskCreate, tenant: str) -> TaskRequest:
    if msg := gw.settings.policy_refusal(body.policy):  # `naestro run` applies it too
        where = ("body", "policy")
        raise RequestValidationError([{"loc": where, "msg": msg, "type": "value_error"}])
    policy = policy_for(body.policy)
    if refusal := gw.settings.api.prompt_refusal(body.prompt):
        raise ApiError(413, refusal)
    return TaskRequest(
        prompt=body.prompt,
        kind=body.kind,
        priority=PRIORITY_KEYS[body.priority],
        budget=body.budget or gw.settings.budget,
        policy=policy,
        tenant=tenant,
        verify=verify_spec(body),
    )


def verify_spec(body: TaskCreate) -> VerifySpec | None:
    """The deterministic checks a task asks for (422 when they could never run: a checker
    without its input, a bad schema, an unreadable expected answer); its workspace travels
    by reference."""
    if body.workspace is None and body.verify is None:
        return None
    checks = body.verify.model_dump() if body.verify is not None else {}
    spec = VerifySpec.model_validate({**checks, "workspace": body.workspace})
    if found := problems(body.kind, spec):
        raise RequestValidationError(
            [
                {"loc": ("body", "verify", field), "msg": msg, "type": "value_error"}
                for field, msg in found
            ]
        )
    return spec


async def _check_workspace(gw: Gateway, body: TaskCreate) -> None:
    """A workspace must be uploaded (POST /v1/blobs) before a task names it."""
    if body.workspace is None:
        return
    sha = body.workspace.archive.sha256
    if not await gw.blobs.exists(sha):
        msg = f"no blob {sha[:12]}… was uploaded: POST the archive to /v1/blobs first"
        where = ("body", "workspace", "archive", "sha256")
        raise RequestValidationError([{"loc": where, "msg": msg, "type": "value_error"}])


async def _start(gw: Gateway, request: TaskRequest, task_id: str) -> None:
    try:
        deploy = gw.settings.deploy
        await start_task(
            gw.client,
            request,
            task_id=task_id,
            task_queue=gw.settings.queues.orchestrator,
            deployment=deploy.name,  # a shadow rollout mirrors its share
        )
    except WorkflowAlreadyStartedError:
        pass  # the idempotency key names a task that has already finished: that task
    except PayloadTooLarge as exc:  # no database for payloads by reference: say so, once
        raise ApiError(413, str(exc)) from None


async def submit(
    gw: Gateway, who: Principal, body: TaskCreate, idem_key: str | None, use_cache: bool
) -> TaskView:
    """Answer from the cache, or start (or find, by idempotency key) the task."""
    request = to_request(gw, body, who.tenant)
    await _check_workspace(gw, body)
    # The cache key holds no checks (a workspace's tests): such tasks are never cached.
    key = cache_key(gw.settings, request) if request.verify is None else None
    if use_cache and key and (hit := await gw.cache.get(key)) is not None:
        return TaskView(
            task_id=hit.task_id,
            tenant=who.tenant,
            state="completed",
            phase="done",
            status=hit.status,
            round=hit.rounds,
            spend=hit.spend,
            result=hit,
            cached=True,
        )
    await gw.backpressure.admit(request.kind, who.tenant)
    task_id = idempotent_id(who.tenant, idem_key) if idem_key else f"task-{uuid.uuid4().hex[:24]}"
    await _start(gw, request, task_id)
    await gw.cache.remember_task(task_id, who.tenant, key, request.prompt)
    return TaskView(
        task_id=task_id,
        tenant=who.tenant,
        state="running",
        phase="pii",
        status="running",
        url=workflow_url(task_id, gw.client.namespace),
    )


async def exists(gw: Gateway, task_id: str) -> bool:
    try:
        await gw.handle(task_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def owned(gw: Gateway, who: Principal, task_id: str) -> WorkflowExecutionStatus | None:
    """The task's execution status; 404 when it does not exist or is another tenant's."""
    try:
        desc = await gw.handle(task_id).describe()
    except RPCError as exc:
        if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
            raise ApiError(404, f"no task with id {task_id!r}") from None
        raise
    tenant = desc.typed_search_attributes.get(search.TENANT)
    if desc.workflow_type != names.TASK_WORKFLOW or (
        tenant != who.tenant and not who.allows("admin")
    ):
        raise ApiError(404, f"no task with id {task_id!r}")
    return desc.status


async def cancel(gw: Gateway, who: Principal, task_id: str, reason: str) -> None:
    status = await owned(gw, who, task_id)
    if status != WorkflowExecutionStatus.RUNNING:
        name = status.name.lower() if status else "unknown"
        raise ApiError(409, f"task {task_id} is not running (it is {name})")
    await send_cancel(gw, task_id, reason)


async def send_cancel(gw: Gateway, task_id: str, reason: str) -> None:
    """The cancel signal to a task found running (it may have ended since)."""
    with _while_running(task_id):
        await gw.handle(task_id).signal(names.CANCEL_SIGNAL, CancelRequest(reason=reason))


@contextmanager
def _while_running(task_id: str) -> Iterator[None]:
    """A signal or update to a task that ended after its status was read (a scripted task
    takes a second): 409 like one that had ended before, not a 500."""
    try:
        yield
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        raise ApiError(409, f"task {task_id} is not running: it has just ended") from None
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        detail = f"task {task_id} did not take the update in time (is its worker up?)"
        raise ApiError(503, detail, headers={"Retry-After": "5"}) from None


async def decide(
    gw: Gateway, who: Principal, task_id: str, decision: ApprovalDecision
) -> ApprovalOutcome:
    """Send the approval update; the workflow's validator refuses stale or unexpected ones."""
    status = await owned(gw, who, task_id)
    if status != WorkflowExecutionStatus.RUNNING:
        raise ApiError(409, f"task {task_id} is not running: nothing to approve")
    return await send_decision(gw, task_id, decision)


async def send_decision(gw: Gateway, task_id: str, decision: ApprovalDecision) -> ApprovalOutcome:
    """The approval update to a task found running (it may have ended since)."""
    try:
        with _while_running(task_id):
            outcome: ApprovalOutcome = await gw.handle(task_id).execute_update(
                names.APPROVAL_UPDATE, decision, result_type=ApprovalOutcome
            )
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        raise ApiError(
            409, f"approval refused: {getattr(cause, 'message', None) or cause}"
        ) from None
    return outcome


async def status_view(gw: Gateway, task_id: str) -> TaskStatusView | None:
    try:
        view: TaskStatusView = await gw.handle(task_id).query(
            names.STATUS_QUERY, result_type=TaskStatusView
        )
    except (RPCError, WorkflowQueryFailedError):
        return None  # its first workflow task has not run yet
    return view


async def feedback(gw: Gateway, who: Principal, task_id: str, kind: str, comment: str) -> int:
    """Record a report about a task (its tenant's, like every read) and return its id."""
    await owned(gw, who, task_id)
    row_id: int = await gw.pool.fetchval(
        "INSERT INTO task_feedback (task_id, tenant, reporter, kind, comment) "
        "VALUES ($1, $2, $3, $4, $5) RETURNING id",
        task_id,
        who.tenant,
        f"{who.kind}:{who.subject}",
        kind,
        comment,
    )
    return row_id
