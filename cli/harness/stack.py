"""Where the harness runs: workers (with their supervised engines) beside a Temporal
client, ready once every engine answers ``/v1/models`` naming its model; the embedded dev
stack (Temporal only: the harness runs without memory) when no server is given."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import httpx
from temporalio.client import Client

from cli.devstack import DevStack
from naestro.config.settings import Settings
from naestro.errors import NaestroError
from workers.deps import Deps
from workers.engines.supervisor import is_ready
from workers.main import run_workers, select_queues

OnWait = Callable[[str], None]


class EngineNotReadyError(NaestroError):
    """A supervised engine did not answer in time, or the workers stopped first."""


async def wait_for_engines(
    settings: Settings, workers: asyncio.Task[None], on_wait: OnWait | None = None
) -> None:
    """Until each engine's endpoint lists its model (the worker then polls its queue)."""
    async with httpx.AsyncClient(timeout=5) as http:
        for engine in settings.engines:
            provider = settings.provider(engine.id)
            base = (provider.endpoint or "").rstrip("/")
            deadline = time.monotonic() + engine.ready_timeout_seconds
            if on_wait is not None:
                on_wait(f"waiting for engine {engine.id} ({engine.model}) at {base}")
            while not await is_ready(base, provider.model, http):
                if workers.done():
                    workers.result()  # the workers' own error, if they failed
                    raise EngineNotReadyError("the workers stopped before the engines were ready")
                if time.monotonic() > deadline:
                    raise EngineNotReadyError(
                        f"engine {engine.id} not ready after {engine.ready_timeout_seconds:.0f}s"
                    )
                await asyncio.sleep(0.5)


@contextlib.asynccontextmanager
async def serving(
    client: Client, settings: Settings, on_wait: OnWait | None = None
) -> AsyncIterator[Client]:
    """Every queue of ``settings`` polled (engines started) while the block runs."""
    stop = asyncio.Event()
    deps = Deps.from_settings(settings)
    workers = asyncio.create_task(run_workers(client, deps, select_queues(settings, []), stop))
    try:
        await wait_for_engines(settings, workers, on_wait)
        yield client
    finally:
        stop.set()
        await workers


@contextlib.asynccontextmanager
async def embedded(settings: Settings, on_wait: OnWait | None = None) -> AsyncIterator[Client]:
    """The embedded dev stack (or TEMPORAL_ADDRESS's server) with the harness's workers."""
    async with DevStack(settings, with_database=False) as stack:
        async with serving(stack.client, settings, on_wait) as client:
            yield client
