"""A task's progress and live tokens as server-sent events, resumable with Last-Event-ID.

Each SSE event is a progress event (phase, model_call, verification, approval, waiting,
subtask, status; data = the TaskEvent), a `token` (data = the TokenDelta with its stream
offset: consecutive tokens with one `call` are that call's reply as it is written), a `gap`
(tokens the bounded stream dropped before this client read them) or `end` (the task
closed without a final status). The id is the watcher's cursor, ``"<seq>.<offset>"``: a
reconnect with it as Last-Event-ID resumes right after, on this gateway or another
(naestro/watch.py). The stream ends after the `status` event.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from sse_starlette import ServerSentEvent

from api.service import Gateway
from naestro.watch import Cursor, Update, follow_task


def sse(update: Update) -> ServerSentEvent:
    kind = update.event.type if update.event is not None else update.kind
    return ServerSentEvent(data=json.dumps(update.data()), id=str(update.cursor), event=kind)


async def stream(
    gw: Gateway, task_id: str, after: Cursor, *, live: bool = True
) -> AsyncIterator[ServerSentEvent]:
    """``live=False``: a workflow that hosts no stream (a research job): its events only."""
    async for update in follow_task(gw.client, task_id, after, live=live):
        yield sse(update)


def resume_point(last_event_id: str | None) -> Cursor:
    """Last-Event-ID as a cursor (a bare number: an event number from before live tokens;
    junk restarts from the beginning)."""
    return Cursor.parse(last_event_id)
