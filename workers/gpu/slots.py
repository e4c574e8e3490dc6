"""GPU slots: how many model calls an engine's worker takes at once, decided before it
polls. A call is admitted while the engine has fewer than its declared concurrency in flight
and every GPU it is placed on has room under ``gpu.admit_memory_fraction`` for one more call
(its ``call_memory_mib``, counted for calls admitted since the last telemetry sample, which
cannot show them yet). A worker that admits nothing does not poll: the calls wait in the
engine's task queue, where the server hands them out by their Temporal priority (the task's),
so foreground work goes first when a slot frees (docs/gpus.md)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from temporalio.worker import (
    CustomSlotSupplier,
    SlotMarkUsedContext,
    SlotPermit,
    SlotReleaseContext,
    SlotReserveContext,
)

from naestro.telemetry import catalogue, metrics
from workers.gpu.engine_lease import EngineLease
from workers.gpu.engine_load import EngineLoad
from workers.gpu.telemetry import GpuSampler

log = logging.getLogger(__name__)
RECHECK_SECONDS = 0.5  # a waiting reservation looks again at least this often


class GpuSlots(CustomSlotSupplier):
    """Activity slots of one engine's model-call worker."""

    def __init__(
        self,
        engine_id: str,
        concurrency: int,
        devices: list[str],
        sampler: GpuSampler | None,
        admit_fraction: float,
        call_memory_bytes: int = 0,
        clock: Callable[[], float] = time.monotonic,
        lease: EngineLease | None = None,
    ) -> None:
        self.engine_id, self.concurrency, self.devices = engine_id, concurrency, devices
        self._sampler = sampler
        self._admit_fraction, self._call_bytes = admit_fraction, call_memory_bytes
        self._clock = clock
        self.reserved = 0  # permits out (reserved for a poll, or running a call)
        self.unsampled = 0  # admitted since the last sample: not in its memory figures yet
        self.running = 0  # permits running a call
        self.load: EngineLoad | None = None  # the engine's own (its /metrics), when it tells
        self._lease = lease  # held while calls run: GPU jobs below it yield
        self._changed = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        if sampler is not None:
            sampler.subscribe(self._sampled)

    def observe_load(self, load: EngineLoad | None) -> None:
        """The engine's load as its /metrics just said (None: unknown)."""
        self.load = load
        self._wake()

    def _sampled(self) -> None:
        self.unsampled = 0
        self._wake()

    def _wake(self) -> None:
        self._soon(self._changed.set)

    def _soon(self, change: Callable[[], None]) -> None:
        """Run ``change`` on the worker's loop: samples arrive from a thread
        (asyncio.to_thread), slot calls perhaps from the SDK's."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(change)

    def refusal(self) -> str | None:
        """Why one more call cannot be admitted now ("concurrency", "engine_queue",
        "kv_cache", "memory"), or None."""
        if self.reserved >= self.concurrency:
            return "concurrency"
        load = self.load
        if load is not None and self.running > 0:  # a worker with no call in flight takes one
            if load.waiting:
                return "engine_queue"
            if load.kv_cache is not None and load.kv_cache >= self._admit_fraction:
                return "kv_cache"
        if self._sampler is None:
            return None
        for key in self.devices:
            device = self._sampler.device(key)
            if device is None or not device.memory_total_bytes:
                continue  # unread yet: routing's health check stands guard for it
            projected = device.memory_used_bytes + (self.unsampled + 1) * self._call_bytes
            if projected > self._admit_fraction * device.memory_total_bytes:
                return "memory"
        return None

    def _admit(self) -> SlotPermit:
        self.reserved += 1
        self.unsampled += 1
        metrics.set_gauge(catalogue.GPU_SLOTS_IN_USE, self.reserved, engine=self.engine_id)
        return SlotPermit()

    async def reserve_slot(self, ctx: SlotReserveContext) -> SlotPermit:
        self._loop = asyncio.get_running_loop()
        started, held_back = self._clock(), None
        while (reason := self.refusal()) is not None:
            if held_back is None:
                log.debug("engine %s: holding back a call (%s)", self.engine_id, reason)
            held_back = reason
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), RECHECK_SECONDS)
        if held_back is not None:
            metrics.observe(
                catalogue.GPU_ADMISSION_WAIT,
                self._clock() - started,
                engine=self.engine_id,
                reason=held_back,
            )
        return self._admit()

    def try_reserve_slot(self, ctx: SlotReserveContext) -> SlotPermit | None:
        return self._admit() if self.refusal() is None else None

    def mark_slot_used(self, ctx: SlotMarkUsedContext) -> None:
        self.running += 1
        if self.running == 1 and self._lease is not None:
            self._soon(self._lease.busy)

    def release_slot(self, ctx: SlotReleaseContext) -> None:
        self.reserved = max(0, self.reserved - 1)
        if ctx is not None and ctx.slot_info is not None:  # it ran a call
            self.running = max(0, self.running - 1)
            if self.running == 0 and self._lease is not None:
                self._soon(self._lease.idle)
        metrics.set_gauge(catalogue.GPU_SLOTS_IN_USE, self.reserved, engine=self.engine_id)
        self._wake()
