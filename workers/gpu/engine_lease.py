"""Foreground before background on one GPU: while a GPU engine's worker has model calls in
flight it holds a lease on the engine's GPUs from the pool's coordinator, at
``gpu.engine_lease_priority`` (2) and never preempted (a serving engine cannot checkpoint),
so a GPU job of lower priority on those GPUs is asked to yield: it checkpoints and waits,
and resumes once the engine has been idle ``gpu.engine_idle_seconds`` and gives the lease
back. A call does not wait for the job to yield; the two share the GPU for those seconds.
A job of higher priority than the engine's lease waits for the engine to go idle."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket

from temporalio.client import Client

from activities.gpu.lease import GpuLease, LeaseRefused, lease_for
from naestro.config.settings import Settings

log = logging.getLogger(__name__)


class EngineLease:
    def __init__(
        self, client: Client, settings: Settings, engine_id: str, devices: list[str]
    ) -> None:
        self._client, self._settings = client, settings
        self.engine_id, self.devices = engine_id, devices
        self._idle_seconds = settings.gpu.engine_idle_seconds
        self._holder = f"engine:{engine_id}@{socket.gethostname()}:{os.getpid()}"
        self._count = itertools.count(1)
        self._holding: asyncio.Task[None] | None = None
        self._done = asyncio.Event()
        self._idle_timer: asyncio.TimerHandle | None = None
        self.lease: GpuLease | None = None

    # On the worker's loop (the slot supplier hops there): the first call in flight, none.
    def busy(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        self._done.clear()
        if self._holding is None or self._holding.done():
            self._holding = asyncio.create_task(self._hold(), name=f"engine-lease-{self.engine_id}")

    def idle(self) -> None:
        if self._idle_timer is None:
            loop = asyncio.get_running_loop()
            self._idle_timer = loop.call_later(self._idle_seconds, self._give_back)

    def _give_back(self) -> None:
        self._idle_timer = None
        self._done.set()

    async def _hold(self) -> None:
        """Queue for the engine's GPUs, hold them until idle (or the lease is lost)."""
        lease = lease_for(
            self._client,
            self._settings,
            f"{self._holder}#{next(self._count)}",
            self.devices,
            self._settings.gpu.engine_lease_priority,
            f"engine {self.engine_id} serving calls",
            preemptible=False,
        )
        self.lease = lease
        try:
            async with lease:
                log.info("engine %s holds GPU %s", self.engine_id, ",".join(self.devices))
                done = asyncio.ensure_future(self._done.wait())
                lost = asyncio.ensure_future(lease.revoked.wait())
                await asyncio.wait([done, lost], return_when=asyncio.FIRST_COMPLETED)
                done.cancel()
                lost.cancel()
        except LeaseRefused as exc:
            log.warning("engine %s: GPU lease refused: %s", self.engine_id, exc)
        finally:
            self.lease = None

    async def close(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        self._done.set()
        if self._holding is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._holding
