"""A workflow's live stream (``temporalio.contrib.workflow_streams``): its progress events
and the live tokens its model activities publish, for the gateway's SSE and streaming
clients.

Two topics: ``events`` (each TaskEvent as the workflow logs it; the `events` query keeps
the whole log) and ``tokens`` (TokenDelta pieces the model activity signals while it
generates). The stream is workflow state, so it is bounded: past ``RETAIN_ITEMS`` items or
``RETAIN_BYTES`` it drops its oldest half (a watcher that resumes before the new base gets
a gap: the events it missed come back from the query; the tokens are gone, the finished
replies are in the task's result). Its history cost is one signal per published batch.
"""

from __future__ import annotations

from temporalio.contrib.workflow_streams import WorkflowStream, WorkflowTopicHandle

from naestro.contracts import TaskEvent
from naestro.contracts.stream import TOKENS_TOPIC, TokenDelta

EVENTS_TOPIC = "events"
RETAIN_ITEMS = 2000
RETAIN_BYTES = 768 * 1024  # under the library's ~1 MB poll response, so one poll drains it


class LiveStream:
    def __init__(self, stream: WorkflowStream) -> None:
        self._stream = stream
        self._events: WorkflowTopicHandle[TaskEvent] = stream.topic(EVENTS_TOPIC, type=TaskEvent)
        self._tokens: WorkflowTopicHandle[TokenDelta] = stream.topic(TOKENS_TOPIC, type=TokenDelta)

    def publish(self, event: TaskEvent) -> None:
        self._events.publish(event)
        self.trim()

    def tokens(self, delta: TokenDelta) -> None:
        """A call's reply its activity held back (ModelResponse.unpublished_call)."""
        self._tokens.publish(delta)
        self.trim()

    def trim(self) -> None:
        """Drop the oldest half of what is retained once over a bound (call after each
        model call and progress event: publishes from activities arrive by signal)."""
        base, sizes = self._retained()
        if len(sizes) <= RETAIN_ITEMS and sum(sizes) <= RETAIN_BYTES:
            return
        kept, budget = 0, RETAIN_BYTES // 2
        for size in reversed(sizes[-(RETAIN_ITEMS // 2) :]):
            if budget < size:
                break
            budget -= size
            kept += 1
        self._stream.truncate(base + len(sizes) - kept)

    def _retained(self) -> tuple[int, list[int]]:
        """The stream's base offset and its retained items' sizes. WorkflowStream has no
        public accessor for these (experimental, pinned <2): read from its state."""
        stream = self._stream
        return stream._base_offset, [item.data.ByteSize() for item in stream._log]
