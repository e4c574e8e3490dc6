"""The model-call activity: one chat completion through the provider registry.

Workflows import this module for ``ModelActivities.complete``, so it imports no provider
SDK: the registry (and with it every adapter) is a type-only import here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from temporalio import activity

from activities.models.observe import watch
from activities.models.tokens import LivePace, TokenPublisher
from naestro.config.settings import LIVE_TOKEN_BATCHES_PER_S
from naestro.contracts import ModelRequest, ModelResponse
from naestro.errors import NaestroError, to_application_error

if TYPE_CHECKING:
    from activities.models.registry import ProviderRegistry

# Heartbeat at least this often while nothing else shows progress; half the activity's
# heartbeat timeout when that is shorter.
HEARTBEAT_EVERY_SECONDS = 5.0
MIN_HEARTBEAT_SECONDS = 0.05


class ModelActivities:
    def __init__(
        self, registry: ProviderRegistry, live_batches_per_s: float = LIVE_TOKEN_BATCHES_PER_S
    ) -> None:
        self.registry = registry
        self.pace = LivePace(live_batches_per_s)  # this process's streamed calls share it

    @activity.defn(name="naestro.model.complete")
    async def complete(self, request: ModelRequest) -> ModelResponse:
        """Call ``request.provider_id``; every Naestro error becomes an ApplicationError.

        A streaming call heartbeats per chunk, so a stalled stream trips the heartbeat
        timeout, and publishes its pieces as live tokens when the request asks
        (``live_tokens_ms``); a non-streaming call heartbeats on a timer and relies on its
        timeouts.
        """
        try:
            provider = self.registry.get(request.provider_id)
            async with self._slot(request.provider_id):
                with watch(self.registry.config(request.provider_id), request) as call:
                    if request.stream:
                        async with TokenPublisher(request, self.pace) as tokens:
                            response = await provider.complete(
                                request, on_progress=_on_chunk(tokens)
                            )
                        if tokens.held_call:
                            held = {
                                "unpublished_call": tokens.held_call,
                                "unpublished_tail": tokens.held_tail,
                            }
                            response = response.model_copy(update=held)
                    else:
                        async with _heartbeating():
                            response = await provider.complete(request)
                    call.done(response)
        except NaestroError as exc:
            activity.logger.warning(
                "model call failed: provider=%s role=%s phase=%s error=%s status=%s",
                request.provider_id,
                request.role,
                request.phase,
                type(exc).__name__,
                getattr(exc, "status", None),
            )
            raise to_application_error(exc) from exc
        _log_success(request, response)
        return response

    @asynccontextmanager
    async def _slot(self, provider_id: str) -> AsyncIterator[None]:
        """Hold one of the provider's concurrency slots; heartbeat while queued for it."""
        semaphore = self.registry.limit(provider_id)
        async with _heartbeating():
            await semaphore.acquire()
        try:
            yield
        finally:
            semaphore.release()


def _on_chunk(tokens: TokenPublisher) -> Callable[[str], None]:
    """Each chunk goes to the publisher; a heartbeat at most every heartbeat interval (the
    SDK makes a task and encodes details for every call, and a token is a chunk): chunks
    still flowing keep the call alive, a stalled stream still trips the timeout."""
    every = _heartbeat_interval()
    last = -every

    def on_chunk(text: str) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= every:
            last = now
            activity.heartbeat()
        tokens.add(text)

    return on_chunk


@asynccontextmanager
async def _heartbeating() -> AsyncIterator[None]:
    task = asyncio.create_task(_beat(_heartbeat_interval()))
    try:
        yield
    finally:
        task.cancel()
        await asyncio.wait({task})


async def _beat(interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        activity.heartbeat()


def _heartbeat_interval() -> float:
    timeout = activity.info().heartbeat_timeout
    if timeout is None:  # no heartbeat timeout set: heartbeats are harmless, keep them rare
        return HEARTBEAT_EVERY_SECONDS
    half = timeout.total_seconds() / 2
    return max(MIN_HEARTBEAT_SECONDS, min(HEARTBEAT_EVERY_SECONDS, half))


def _log_success(request: ModelRequest, response: ModelResponse) -> None:
    usage = response.usage
    activity.logger.info(
        "model call: provider=%s model=%s role=%s phase=%s in=%d out=%d cached=%d "
        "usd=%.6f latency_ms=%.0f scripted=%s",
        request.provider_id,
        response.model,
        request.role,
        request.phase,
        usage.input_tokens,
        usage.output_tokens,
        usage.cached_input_tokens,
        response.cost_usd,
        response.latency_ms,
        response.scripted,
    )
