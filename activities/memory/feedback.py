"""Feedback: approve or reject a cited chunk, or a task's answer.

Each approval adds ``memory.feedback_boost`` (0.1) to the target's fused score and each
rejection takes it away, the net capped at ``memory.feedback_boost_cap`` either way; a
task's feedback applies to its answer chunks.
"""

from __future__ import annotations

import asyncpg

from naestro.contracts.memory import FeedbackRequest, FeedbackResult
from naestro.errors import NaestroError


class FeedbackTargetError(NaestroError):
    """Feedback names no chunk or task, or one this tenant does not have."""


async def _check_target(conn: asyncpg.Connection, req: FeedbackRequest) -> None:
    if (req.chunk_id is None) == (req.task_id is None):
        raise FeedbackTargetError("feedback needs exactly one of a chunk id or a task id")
    if req.chunk_id is not None:
        found = await conn.fetchval(
            "SELECT 1 FROM chunks WHERE id = $1 AND tenant = $2", req.chunk_id, req.tenant
        )
        what = f"chunk {req.chunk_id}"
    else:
        found = await conn.fetchval(
            "SELECT 1 FROM tasks WHERE task_id = $1 AND tenant = $2 UNION ALL "
            "SELECT 1 FROM chunks WHERE task_id = $1 AND tenant = $2 LIMIT 1",
            req.task_id,
            req.tenant,
        )
        what = f"task {req.task_id!r}"
    if not found:
        raise FeedbackTargetError(f"no {what} in tenant {req.tenant!r}")


async def record(conn: asyncpg.Connection, req: FeedbackRequest) -> FeedbackResult:
    await _check_target(conn, req)
    row = await conn.fetchrow(
        "INSERT INTO feedback (tenant, chunk_id, task_id, verdict, note) "
        "VALUES ($1, $2, $3, $4, $5) RETURNING id",
        req.tenant,
        req.chunk_id,
        req.task_id,
        req.verdict,
        req.note,
    )
    counts = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE verdict = 'approve') AS a, "
        "count(*) FILTER (WHERE verdict = 'reject') AS r FROM feedback "
        "WHERE tenant = $1 AND chunk_id IS NOT DISTINCT FROM $2 "
        "AND task_id IS NOT DISTINCT FROM $3",
        req.tenant,
        req.chunk_id,
        req.task_id,
    )
    return FeedbackResult(id=row["id"], approvals=counts["a"], rejections=counts["r"])
