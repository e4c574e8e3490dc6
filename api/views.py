"""Reading tasks: one task's view, lists through Temporal visibility, the approvals inbox."""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.client import WorkflowExecution, WorkflowExecutionStatus

from api.auth import Principal
from api.models import ExecutionState, PendingApproval, TaskView
from api.service import Gateway, owned, status_view
from naestro import names, search
from naestro.client import ENDED_STATUS, ending_status, state_name, task_ending
from naestro.connect import workflow_url
from naestro.contracts import TaskResult

LIST_LIMIT = 200


def execution_state(status: WorkflowExecutionStatus | None) -> ExecutionState:
    return state_name(status)  # type: ignore[return-value]  # ExecutionState spells them all


def task_url(gw: Gateway, task_id: str) -> str:
    """The task's page in the Temporal UI."""
    return workflow_url(task_id, gw.client.namespace, gw.settings.dev.ui_port)


async def task_view(gw: Gateway, who: Principal, task_id: str) -> TaskView:
    status = await owned(gw, who, task_id)
    state = execution_state(status)
    result: TaskResult | None = None
    if status == WorkflowExecutionStatus.COMPLETED:
        result = await gw.handle(task_id).result()
        await gw.cache.settle(result)
    # Ended without completing: the execution says the status, and why (naestro/client.py).
    ending = await task_ending(gw.client, task_id, status)
    view = await status_view(gw, task_id) if result is None else None
    listed = _attributes(await gw.handle(task_id).describe())
    live = view.status if view else None
    return TaskView(
        task_id=task_id,
        tenant=listed.pop("tenant") or who.tenant,
        state=state,
        phase="done" if result else (view.phase if view else None),
        status=result.status if result else (ending.status if ending else live),
        error=ending.error if ending else None,
        round=result.rounds if result else (view.round if view else None),
        spend=result.spend if result else (view.spend if view else None),
        pending_approval=view.pending_approval if view else None,
        result=result,
        url=task_url(gw, task_id),
        **listed,
    )


def _attributes(execution: WorkflowExecution) -> dict[str, Any]:
    """What a task's search attributes and execution say of it (TaskView fields)."""
    attrs = execution.typed_search_attributes
    return {
        "tenant": attrs.get(search.TENANT),
        "kind": attrs.get(search.KIND),
        "policy": attrs.get(search.POLICY),
        "cost_usd": attrs.get(search.COST),
        "confidence": attrs.get(search.CONFIDENCE),
        "created_at": execution.start_time,
        "closed_at": execution.close_time,
    }


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def visibility_query(
    tenant: str | None,
    status: str | None,
    kind: str | None,
    workflow_type: str = names.TASK_WORKFLOW,
    *,
    policy: str | None = None,
) -> str:
    """The visibility query; the caller's tenant is always part of it (isolation)."""
    parts = [f"WorkflowType = {_quote(workflow_type)}"]
    if tenant is not None:
        parts.append(f"{search.TENANT.name} = {_quote(tenant)}")
    if status:
        parts.append(_status_clause(status))
    if kind:
        parts.append(f"{search.KIND.name} = {_quote(kind)}")
    if policy:
        parts.append(f"{search.POLICY.name} = {_quote(policy)}")
    return " AND ".join(parts)


# A run that ended without completing never set its NaestroStatus to how it ended: its
# execution status says (naestro/client.py ENDED_STATUS), as in the views.
_VISIBILITY_NAME = {
    WorkflowExecutionStatus.FAILED: "Failed",
    WorkflowExecutionStatus.TERMINATED: "Terminated",
    WorkflowExecutionStatus.TIMED_OUT: "TimedOut",
    WorkflowExecutionStatus.CANCELED: "Canceled",
}


def _status_clause(status: str) -> str:
    """Rows whose view shows ``status``: runs that ended without completing by their
    execution status, the others by their NaestroStatus."""
    ended = [f"ExecutionStatus != '{_VISIBILITY_NAME[s]}'" for s in ENDED_STATUS]
    clause = f"({' AND '.join(ended)} AND {search.STATUS.name} = {_quote(status)})"
    matching = [
        f"ExecutionStatus = '{_VISIBILITY_NAME[s]}'" for s, n in ENDED_STATUS.items() if n == status
    ]
    return f"({' OR '.join([clause, *matching])})" if matching else clause


def _row(gw: Gateway, execution: WorkflowExecution, tenant: str) -> TaskView:
    listed = _attributes(execution)
    attrs = execution.typed_search_attributes
    return TaskView(
        task_id=execution.id,
        tenant=listed.pop("tenant") or tenant,
        state=execution_state(execution.status),
        phase=attrs.get(search.PHASE),
        status=ending_status(execution.status) or attrs.get(search.STATUS),
        url=task_url(gw, execution.id),
        **listed,
    )


async def list_tasks(
    gw: Gateway,
    who: Principal,
    status: str | None,
    kind: str | None,
    tenant: str | None,
    policy: str | None = None,
) -> list[TaskView]:
    """The newest tasks first (visibility's order: start time, descending)."""
    if tenant is not None and tenant != who.tenant and not who.allows("admin"):
        tenant = who.tenant  # only an admin may look at another tenant
    query = visibility_query(tenant or who.tenant, status, kind, policy=policy)
    rows: list[TaskView] = []
    async for execution in gw.client.list_workflows(query, limit=LIST_LIMIT):
        rows.append(_row(gw, execution, who.tenant))
    return rows


async def inbox(gw: Gateway, who: Principal) -> list[PendingApproval]:
    """Tasks of the caller's tenant that wait for approval, with what they wait for."""
    query = visibility_query(who.tenant, "running", None) + f" AND {search.PHASE.name} = 'approve'"
    ids = [e.id async for e in gw.client.list_workflows(query, limit=LIST_LIMIT)]
    views = await asyncio.gather(*(status_view(gw, i) for i in ids))
    return [
        PendingApproval(task_id=i, request=v.pending_approval)
        for i, v in zip(ids, views, strict=True)
        if v is not None and v.pending_approval is not None
    ]
