"""Where the harness runs: workers (with their supervised engines) beside a Temporal
client, ready once every engine answers ``/v1/models`` naming its model; the embedded dev
stack (Temporal only: the harness runs without memory) when no server is given."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from temporalio.client import Client

from cli.devstack import DevStack
from naestro.config.settings import Settings
from workers.deps import Deps
from workers.engines.fallback import EngineNotReady, wait_ready
from workers.main import run_workers, select_queues
from workers.versioning import one_machine

OnWait = Callable[[str], None]


async def wait_for_engines(
    settings: Settings, workers: asyncio.Task[None], on_wait: OnWait | None = None
) -> None:
    """Until each engine serves its model (workers/engines/fallback.py's wait); a worker
    that failed first raises its own error."""
    try:
        await wait_ready(settings, on_wait or (lambda _: None), workers.done)
    except EngineNotReady:
        if workers.done():
            workers.result()
        raise


@contextlib.asynccontextmanager
async def serving(
    client: Client, settings: Settings, on_wait: OnWait | None = None
) -> AsyncIterator[Client]:
    """Every queue of ``settings`` polled (engines started) while the block runs."""
    stop = asyncio.Event()
    settings = one_machine(settings)  # the code measured is the code that serves
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
