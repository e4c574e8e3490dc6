"""A warm pool of started, single-use sandbox containers, so a run skips container start-up.

Every container is used for one run and then killed: no run sees another's files or
processes. The pool keeps ``size`` containers ready for the default limits and refills in
the background as runs take them; a run with other limits gets a cold container. A failed
start stops the refilling until the next run asks (which then starts its own container and
sees the error itself), so a broken engine is never hammered in a loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Generic, TypeVar

from naestro.errors import SandboxError

log = logging.getLogger(__name__)
T = TypeVar("T")
_REFILL_PARALLEL = 3  # container starts at once: more only fight over the CPU


class WarmPool(Generic[T]):
    def __init__(
        self,
        create: Callable[[], Awaitable[T]],
        dispose: Callable[[T], Awaitable[None]],
        size: int,
    ) -> None:
        self._create = create
        self._dispose = dispose
        self._size = size
        self._ready: asyncio.Queue[T] = asyncio.Queue()
        self._starting = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()
        self._failed: BaseException | None = None
        self._closed = False

    @property
    def ready(self) -> int:
        return self._ready.qsize()

    def fill(self) -> None:
        """Start as many containers as the pool lacks (a couple at a time)."""
        if self._closed or self._failed is not None:
            return
        while self._starting < _REFILL_PARALLEL and self.ready + self._starting < self._size:
            self._starting += 1
            task = asyncio.create_task(self._add())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _add(self) -> None:
        try:
            item = await self._create()
        except Exception as exc:
            log.warning("could not start a warm sandbox container: %s", exc)
            self._failed = exc
            return
        finally:
            self._starting -= 1
            self._changed.set()
        if self._closed:
            await self._dispose(item)
            return
        self._ready.put_nowait(item)
        self.fill()

    async def take(self) -> T:
        """A ready container, or a freshly started one when none is ready."""
        self._failed = None  # a run asks: try refilling again
        try:
            item = self._ready.get_nowait()
        except asyncio.QueueEmpty:
            item = await self._create()
        self.fill()
        return item

    async def wait_ready(self, count: int) -> None:
        """Until ``count`` containers are ready; SandboxError when starting one fails."""
        self._failed = None
        while True:
            self._changed.clear()
            self.fill()
            if self._failed is not None:
                raise SandboxError(f"could not start a sandbox container: {self._failed}")
            if self.ready >= min(count, self._size):
                return
            await self._changed.wait()

    async def aclose(self) -> None:
        self._closed = True
        for task in list(self._tasks):
            with suppress(asyncio.CancelledError):
                await task
        while not self._ready.empty():
            await self._dispose(self._ready.get_nowait())
