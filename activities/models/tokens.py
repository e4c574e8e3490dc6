"""Live tokens: a model activity publishes its reply's pieces on its workflow's stream
(``temporalio.contrib.workflow_streams``) while the engine generates; the activity still
returns the whole reply, which is what the workflow (and its replay) uses.

Pieces are coalesced: the first goes out at once (time to first token), later ones every
``interval`` (stretching as a call grows old, see BACKOFF) as one
:class:`~naestro.contracts.stream.TokenDelta` per signal, so the workflow's history grows by
one signal per batch, not one per token. One sender task sends them in order and is never
cancelled mid-signal. Publishing is best effort: a stream that cannot be reached never fails
the call, and the last flush waits ``FINAL_FLUSH_S`` at most.

Each batch is a signal, a workflow task and history events, so a worker's streamed calls
share a pace (:class:`LivePace`, ``queues.live_token_batches_per_s``): with n calls
publishing at once, each sends a batch at most every n / rate seconds, and when that is
longer than the call's interval even its first piece waits that long. Few calls stream as
above; a worker at full load sends about ``rate`` batches a second in all, however many
calls it runs, and its short calls send none.

A call that succeeds sends no last batch: what it has not published yet (``held_call``
names the call, ``held_tail`` is the text, None when no piece went out at all) goes back
with the reply, and the workflow puts it on the stream as the call's final piece
(ModelResponse.unpublished_call), which saves the call a signal and a workflow task.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import suppress
from types import TracebackType

from temporalio import activity
from temporalio.contrib.workflow_streams import TopicHandle, WorkflowStreamClient

from naestro.contracts import ModelRequest
from naestro.contracts.stream import TOKENS_TOPIC, TokenDelta

log = logging.getLogger(__name__)
FINAL_FLUSH_S = 5.0
# After each batch the sender pauses max(interval, BACKOFF x the call's age): a long call's
# batches thin out (200 ms interval: ~20 batches in a call's first 4 s, ~75 in 60 s, ~110 in
# 5 min), which bounds the signals, and so the history events, one call adds.
BACKOFF = 0.05


class LivePace:
    """The live-token batches one worker process sends a second, shared by its streamed
    calls; ``share`` is how long each of the calls publishing now waits between batches."""

    def __init__(self, batches_per_s: float) -> None:
        self.batches_per_s = batches_per_s
        self.publishing = 0

    def share(self) -> float:
        return self.publishing / self.batches_per_s


class TokenPublisher:
    """``add`` each piece as it arrives; use as an async context manager around the call."""

    def __init__(self, request: ModelRequest, pace: LivePace) -> None:
        self._interval = request.live_tokens_ms / 1000
        self._enabled = request.stream and request.live_tokens_ms > 0
        self._request = request
        self._pace = pace
        self._pending: list[str] = []
        self._wake = asyncio.Event()
        self._done = asyncio.Event()
        self._client: WorkflowStreamClient | None = None
        self._topic: TopicHandle[TokenDelta] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._call = ""
        self._started = 0.0
        self._published = False  # a batch has gone out (or is going)
        self._held = False

    async def __aenter__(self) -> TokenPublisher:
        if not self._enabled:
            return self
        info = activity.info()
        self._call = f"{info.activity_id}.{info.attempt}"
        try:
            self._client = WorkflowStreamClient.from_within_activity()
            self._topic = self._client.topic(TOKENS_TOPIC, type=TokenDelta)
        except Exception as exc:
            log.warning("live tokens off for this call: %s", exc)
            self._client = self._topic = None
            return self
        self._started = time.monotonic()
        self._pace.publishing += 1
        self._sender = asyncio.create_task(self._send())
        return self

    @property
    def held_call(self) -> str:
        """The call's id when its last pieces were held back for the workflow to publish."""
        return self._call if self._held else ""

    @property
    def held_tail(self) -> str | None:
        """The held-back pieces' text once earlier ones went out; None when none did (the
        whole reply is unpublished)."""
        return "".join(self._pending) if self._held and self._published else None

    def add(self, text: str) -> None:
        if self._sender is not None and text:
            self._pending.append(text)
            self._wake.set()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._sender is None:
            return
        self._pace.publishing -= 1
        self._held = exc_type is None  # a reply: its last pieces go back with it
        self._done.set()
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._sender), FINAL_FLUSH_S)
        except TimeoutError:
            log.warning("live tokens: the last pieces were not delivered in %.0f s", FINAL_FLUSH_S)
            self._sender.cancel()
        except Exception as err:
            log.warning("live tokens: the last pieces were not delivered: %s", err)

    async def _send(self) -> None:
        """Wait for a piece, send what has gathered, then pause (so the first piece goes at
        once and later ones in batches); a failed call's last batch is marked final."""
        assert self._client is not None and self._topic is not None
        if self._pace.share() > self._interval:  # a busy worker: the first piece waits too
            await self._pause(self._pace.share())
        while True:
            await self._wake.wait()
            self._wake.clear()
            final = self._done.is_set()
            if self._held:
                return
            if self._pending or final:
                self._published = True
                self._topic.publish(self._delta(final))
                try:
                    await self._client.flush()
                except Exception as err:
                    log.warning("live tokens: a batch was not delivered: %s", err)
            if final:
                return
            age = time.monotonic() - self._started
            await self._pause(max(self._interval, BACKOFF * age, self._pace.share()))

    async def _pause(self, seconds: float) -> None:
        """Wait ``seconds``, cut short by the call's end."""
        with suppress(TimeoutError):
            await asyncio.wait_for(self._done.wait(), seconds)

    def _delta(self, final: bool) -> TokenDelta:
        r = self._request
        text = "".join(self._pending)
        self._pending.clear()
        return TokenDelta(
            call=self._call,
            phase=r.phase,
            role=r.role,
            provider=r.provider_id,
            text=text,
            final=final,
        )
