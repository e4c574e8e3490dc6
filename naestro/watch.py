"""Watch a task as it runs: its progress events and live tokens, in order, resumable.

A TaskWorkflow hosts a workflow stream (workflows/steps/live.py) with two topics: `events`
(each progress event as it is logged) and `tokens` (the pieces model activities publish
while they generate). :func:`follow_task` reads it through the stream's read-only query —
at once again after a reply with items, every 50 ms at most when caught up — so watching
adds nothing to the workflow's history (the library's long-poll is an update per poll).

A :class:`Cursor` says where a watcher is: the last event's number and the stream offset to
read next; it prints as ``"<seq>.<offset>"`` (the SSE id; ``"<seq>"`` at offset 0).
Resuming from one gives what came after, once: events the stream no longer retains (it is
bounded) are read back from the workflow's `events` query, which keeps the whole log;
tokens it dropped are reported as a gap. A task started before streams existed (no stream
handlers) is followed by polling its `events` query, as before.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, replace
from typing import Any, Literal

from temporalio.api.common.v1 import Payload
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
)
from temporalio.contrib.workflow_streams import PollInput, PollResult
from temporalio.service import RPCError

from naestro import names
from naestro.contracts import TaskEvent
from naestro.contracts.stream import TOKENS_TOPIC, TokenDelta

log = logging.getLogger(__name__)
EVENTS_TOPIC = "events"
QUERY_IDLE_SECONDS = 0.025  # a caught-up stream is read again after this, doubling...
QUERY_IDLE_MAX_SECONDS = 0.05  # ...up to this (the most a new token waits for a watcher)
CLOSED_CHECK_EVERY = 20  # idle reads between checks that the workflow still runs
STREAM_POLL = "__temporal_workflow_stream_poll"  # the stream's read-only query
LEGACY_POLL_SECONDS = 0.25  # tasks without a stream: their events query, this often


@dataclass(frozen=True)
class Cursor:
    seq: int = 0  # the last progress event the watcher has
    offset: int = 0  # the next stream offset to read

    def __str__(self) -> str:
        return f"{self.seq}.{self.offset}" if self.offset else str(self.seq)

    @classmethod
    def parse(cls, text: str | None) -> Cursor:
        """``"<seq>.<offset>"``, or a bare ``"<seq>"`` (ids from before live tokens);
        anything else starts from the beginning."""
        seq, _, offset = (text or "").strip().partition(".")
        if not seq.isdigit() or (offset and not offset.isdigit()):
            return cls()
        return cls(int(seq), int(offset or 0))


@dataclass(frozen=True)
class Update:
    """One thing a watcher shows: a progress event, a token piece, a gap (tokens the
    bounded stream dropped before the watcher read them) or the end of a task that closed
    without a final status event."""

    kind: Literal["event", "token", "gap", "end"]
    cursor: Cursor
    event: TaskEvent | None = None
    token: TokenDelta | None = None
    offset: int = 0  # a token's stream offset; a gap's first missing offset

    def data(self) -> dict[str, Any]:
        """As JSON for SSE: the event; the token with its offset; the gap's extent."""
        if self.event is not None:
            return self.event.model_dump(mode="json")
        if self.token is not None:
            return {**self.token.model_dump(mode="json"), "offset": self.offset}
        if self.kind == "gap":
            return {"from": self.offset, "to": self.cursor.offset - 1}
        return {"closed": True}


async def events_after(client: Client, task_id: str, seq: int) -> list[TaskEvent] | None:
    """The task's logged events after ``seq``; None while it cannot answer (its first
    workflow task has not run, or no worker polls its queue)."""
    try:
        events: list[TaskEvent] = await client.get_workflow_handle(task_id).query(
            names.EVENTS_QUERY, seq, result_type=list[TaskEvent]
        )
    except (RPCError, WorkflowQueryFailedError):
        return None
    return events


async def _closed(client: Client, task_id: str) -> bool:
    desc = await client.get_workflow_handle(task_id).describe()
    return desc.status != WorkflowExecutionStatus.RUNNING


class _NoStream(Exception):
    """The task hosts no stream (started before them): follow its events query."""


async def follow_task(
    client: Client, task_id: str, cursor: Cursor, *, live: bool = True
) -> AsyncIterator[Update]:
    """Everything after ``cursor``, in order, until the final `status` event (or `end`).
    ``live=False``: a workflow without a stream (a research job): its events query only."""
    state = _State(cursor)
    if live:
        try:
            async with aclosing(_streamed(client, task_id, state)) as updates:
                async for update in updates:
                    yield update
                    if update.event is not None and update.event.type == "status":
                        return
            yield Update("end", state.cursor)
            return
        except _NoStream:
            pass  # a workflow from before streams: read its events query
        except WorkflowQueryFailedError as err:
            # The worker could not answer the stream's query (seen under load: its replay of
            # the task for a query failed). Progress goes on from the events query, which
            # tolerates failures; the task itself is not affected.
            log.warning("task %s: live stream unreadable (%s); following its events", task_id, err)
    async for update in _polled(client, task_id, state):
        yield update


@dataclass
class _State:
    cursor: Cursor

    def event(self, event: TaskEvent) -> Update:
        self.cursor = replace(self.cursor, seq=event.seq)
        return Update("event", self.cursor, event=event)

    def moved(self, offset: int) -> None:
        self.cursor = replace(self.cursor, offset=offset)


async def _streamed(client: Client, task_id: str, state: _State) -> AsyncGenerator[Update, None]:
    """Read the task's stream through its poll *query*, not the library's long-poll update:
    a query adds nothing to the workflow's history, and an update accepted between the
    workflow's own commands made a history that failed to replay under load (a
    nondeterminism error on ``WorkflowExecutionUpdateAccepted``). After a reply with items
    it asks again at once; caught up, after 25, then every 50 ms."""
    handle = client.get_workflow_handle(task_id)
    converter = client.data_converter.payload_converter
    first, idle = True, 0
    while True:
        asked = state.cursor.offset
        try:
            result = await handle.query(
                STREAM_POLL, PollInput(topics=[], from_offset=asked), result_type=PollResult
            )
        except WorkflowQueryFailedError as err:
            unknown = ("not found" in str(err)) or ("unknown queryType" in str(err))
            if first and unknown:  # no stream handlers: a workflow from before streams
                raise _NoStream from err
            raise
        except RPCError:
            result = None  # not queryable yet (its first workflow task), or no worker now
        for wire in result.items if result else []:
            if wire.offset > asked:  # the bounded stream dropped what was asked for
                state.moved(wire.offset)
                yield Update("gap", state.cursor, offset=asked)
            first = False
            state.moved(wire.offset + 1)
            asked = state.cursor.offset
            payload = Payload.FromString(base64.b64decode(wire.data))
            if wire.topic == TOKENS_TOPIC:
                token = converter.from_payload(payload, TokenDelta)
                yield Update("token", state.cursor, token=token, offset=wire.offset)
            elif wire.topic == EVENTS_TOPIC:
                async for update in _event(client, task_id, state, converter.from_payload(payload)):
                    yield update
        if result is not None and result.items:
            idle = 0
            continue  # more may be there already
        idle += 1
        if idle % CLOSED_CHECK_EVERY == 0 and await _closed(client, task_id):
            return  # closed without a final status (failed, terminated): the caller says so
        await asyncio.sleep(min(QUERY_IDLE_MAX_SECONDS, QUERY_IDLE_SECONDS * 2 ** (idle - 1)))


async def _event(
    client: Client, task_id: str, state: _State, data: object
) -> AsyncIterator[Update]:
    """A progress event from the stream: skipped when the watcher has it; events the
    bounded stream dropped before it are read back from the workflow's log first."""
    event = TaskEvent.model_validate(data)
    if event.seq <= state.cursor.seq:
        return
    if event.seq > state.cursor.seq + 1:
        for missed in await events_after(client, task_id, state.cursor.seq) or []:
            if missed.seq < event.seq:
                yield state.event(missed)
    yield state.event(event)


async def _polled(client: Client, task_id: str, state: _State) -> AsyncIterator[Update]:
    while True:
        events = await events_after(client, task_id, state.cursor.seq) or []
        for event in events:
            yield state.event(event)
            if event.type == "status":
                return
        if not events and await _closed(client, task_id):
            if not await events_after(client, task_id, state.cursor.seq):
                yield Update("end", state.cursor)
                return
            continue
        await asyncio.sleep(LEGACY_POLL_SECONDS)
