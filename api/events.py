"""A task's progress as server-sent events, resumable with Last-Event-ID.

The workflow keeps a numbered log (phase changes, model-call summaries, verification
results, approvals, the final status); this long-polls its `events` query and forwards
each entry once, with its number as the SSE id. A reconnect with Last-Event-ID = n resumes
at n + 1. The stream ends after the final `status` event (or when the task closed without
one, e.g. it failed or was terminated).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from sse_starlette import ServerSentEvent
from temporalio.client import WorkflowExecutionStatus, WorkflowQueryFailedError
from temporalio.service import RPCError

from api.service import Gateway
from naestro import names
from naestro.contracts import TaskEvent

POLL_SECONDS = 0.25


async def _fetch(gw: Gateway, task_id: str, after: int) -> list[TaskEvent] | None:
    try:
        events: list[TaskEvent] = await gw.handle(task_id).query(
            names.EVENTS_QUERY, after, result_type=list[TaskEvent]
        )
    except (RPCError, WorkflowQueryFailedError):
        return None  # not queryable yet (first workflow task pending)
    return events


async def _closed(gw: Gateway, task_id: str) -> bool:
    desc = await gw.handle(task_id).describe()
    return desc.status != WorkflowExecutionStatus.RUNNING


async def stream(gw: Gateway, task_id: str, after: int) -> AsyncIterator[ServerSentEvent]:
    while True:
        events = await _fetch(gw, task_id, after) or []
        for event in events:
            after = event.seq
            yield ServerSentEvent(
                data=json.dumps(event.model_dump(mode="json")), id=str(event.seq), event=event.type
            )
            if event.type == "status":
                return
        if not events and await _closed(gw, task_id):
            final = await _fetch(gw, task_id, after)
            if not final:
                yield ServerSentEvent(data=json.dumps({"closed": True}), event="end")
                return
            continue
        await asyncio.sleep(POLL_SECONDS)


def resume_point(last_event_id: str | None) -> int:
    """Last-Event-ID as a sequence number (0: from the start); junk restarts from 0."""
    if last_event_id and last_event_id.strip().isdigit():
        return int(last_event_id.strip())
    return 0
