"""The GPU sampler: reads NVML every ``gpu.sample_seconds`` on the worker that owns the
GPUs, exports the readings as metrics, judges each supervised engine's GPUs, and tells the
pool coordinator (so routing, on any orchestrator, skips an engine whose GPUs are full or
failing) and the engines' slot suppliers (so they stop taking calls) what it saw."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from naestro.config.settings import GpuConfig
from naestro.contracts.gpu import (
    GIB,
    HEALTH_REFRESH_SECONDS,
    EngineGpuHealth,
    GpuDevice,
    GpuHealthReport,
)
from naestro.telemetry import catalogue, metrics
from workers.gpu.nvml import Nvml

log = logging.getLogger(__name__)

Publish = Callable[[GpuHealthReport], Awaitable[None]]
Owners = Callable[[], dict[int, str]]


def session_of(pid: int) -> int | None:
    """The session a process belongs to (an engine is its session's leader: its children,
    vLLM's GPU workers among them, share its session)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return int(fields[3])  # state ppid pgrp session
    except (OSError, IndexError, ValueError):
        return None


def judge(
    engine_id: str,
    keys: list[str],
    devices: dict[str, GpuDevice],
    config: GpuConfig,
    ecc_baseline: dict[str, int],
) -> EngineGpuHealth:
    """Whether an engine's GPUs can serve now, and if not why (the first reason found)."""
    for key in keys:
        device = devices.get(key)
        if device is None:
            return EngineGpuHealth(
                engine_id=engine_id, devices=keys, ok=False, reason=f"GPU {key} not found"
            )
        reason = _unhealthy(device, config, ecc_baseline.get(key))
        if reason:
            return EngineGpuHealth(engine_id=engine_id, devices=keys, ok=False, reason=reason)
    return EngineGpuHealth(engine_id=engine_id, devices=keys)


def _unhealthy(device: GpuDevice, config: GpuConfig, ecc_base: int | None) -> str:
    if device.error:
        return f"{device.label} unreadable: {device.error}"
    if device.xid is not None and device.xid in config.critical_xids:
        return f"{device.label}: XID {device.xid} error"
    if device.ecc_uncorrected and ecc_base is not None and device.ecc_uncorrected > ecc_base:
        return f"{device.label}: {device.ecc_uncorrected - ecc_base} new uncorrected ECC errors"
    if device.memory_total_bytes and device.memory_fraction >= config.unhealthy_memory_fraction:
        used, total = device.memory_used_bytes / GIB, device.memory_total_bytes / GIB
        return f"{device.label} out of memory ({used:.1f} of {total:.1f} GiB)"
    return ""


def _owned(device: GpuDevice, owners: dict[int, str]) -> GpuDevice:
    """The device with each process's engine named (by pid, or its session's leader)."""
    if not owners or not device.processes:
        return device
    processes = []
    for p in device.processes:
        engine = owners.get(p.pid) or owners.get(session_of(p.pid) or -1)
        processes.append(p if engine is None else p.model_copy(update={"engine": engine}))
    return device.model_copy(update={"processes": processes})


class GpuSampler:
    def __init__(
        self,
        nvml: Nvml,
        config: GpuConfig,
        placements: dict[str, list[str]] | None = None,
        owners: Owners | None = None,
        publish: Publish | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.nvml, self.config = nvml, config
        self.placements = placements or {}  # engine id -> device keys
        self.owners: Owners = owners or dict  # GPU process pid -> engine id
        self._publish = publish
        self._clock = clock
        self.devices: dict[str, GpuDevice] = {}
        self.sampled_at = -1.0
        self.verdicts: dict[str, EngineGpuHealth] = {}
        self._ecc_baseline: dict[str, int] = {}
        self._xids_counted: dict[str, int | None] = {}
        self._listeners: list[Callable[[], None]] = []
        self._published: dict[str, tuple[bool, str]] | None = None
        self._published_at = -1.0

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Called after every sample (slot suppliers recheck their admission)."""
        self._listeners.append(listener)

    def device(self, key: str) -> GpuDevice | None:
        return self.devices.get(key)

    def sample(self, read: list[GpuDevice] | None = None) -> list[GpuDevice]:
        """One read (or ``read``, one just made): devices with their processes' engines,
        metrics, verdicts, listeners."""
        owners = self.owners()  # once per sample: engine pids do not change within one
        devices = [_owned(d, owners) for d in (self.nvml.devices() if read is None else read)]
        self.devices = {d.key: d for d in devices}
        self.sampled_at = self._clock()
        for d in devices:
            if d.ecc_uncorrected is not None:
                self._ecc_baseline.setdefault(d.key, d.ecc_uncorrected)
            self._export(d)
        self.verdicts = {
            engine: judge(engine, keys, self.devices, self.config, self._ecc_baseline)
            for engine, keys in self.placements.items()
        }
        for verdict in self.verdicts.values():
            metrics.set_gauge(
                catalogue.GPU_ENGINE_HEALTHY,
                1 if verdict.ok else 0,
                pool=self.config.pool,
                engine=verdict.engine_id,
            )
        for listener in self._listeners:
            listener()
        return devices

    def _export(self, d: GpuDevice) -> None:
        labels = {"pool": self.config.pool, "gpu": d.key}
        if d.error:
            metrics.count(catalogue.GPU_READ_ERRORS, 1.0, **labels)
            return
        metrics.set_gauge(catalogue.GPU_MEMORY_USED, d.memory_used_bytes, **labels)
        metrics.set_gauge(catalogue.GPU_MEMORY_TOTAL, d.memory_total_bytes, **labels)
        readings = (
            (
                catalogue.GPU_UTILIZATION,
                None if d.utilization_pct is None else d.utilization_pct / 100,
            ),
            (catalogue.GPU_TEMPERATURE, d.temperature_c),
            (catalogue.GPU_POWER, d.power_w),
            (catalogue.GPU_SM_CLOCK, None if d.sm_clock_mhz is None else d.sm_clock_mhz * 1e6),
            (catalogue.GPU_ECC_ERRORS, d.ecc_uncorrected),
        )
        for metric, value in readings:
            if value is not None:
                metrics.set_gauge(metric, value, **labels)
        if d.xid is not None and self._xids_counted.get(d.key) != d.xid:
            metrics.count(catalogue.GPU_XID, 1.0, **labels, xid=str(d.xid))
        self._xids_counted[d.key] = d.xid

    def report(self) -> GpuHealthReport:
        return GpuHealthReport(
            pool=self.config.pool,
            host=socket.gethostname(),
            engines=list(self.verdicts.values()),
            at=datetime.now(UTC),
        )

    async def publish_if_changed(self) -> bool:
        """Send the verdicts to the pool when they changed, or (while one is unhealthy) when
        the last report is about to go stale. True when sent."""
        if self._publish is None or not self.placements:
            return False
        now = self._clock()
        state = {e: (v.ok, v.reason) for e, v in self.verdicts.items()}
        unhealthy = any(not ok for ok, _ in state.values())
        due = unhealthy and now - self._published_at >= HEALTH_REFRESH_SECONDS
        if state == self._published and not due:
            return False
        await self._publish(self.report())
        for engine, (ok, reason) in state.items():
            if self._published is None or self._published.get(engine) != (ok, reason):
                log.log(
                    logging.INFO if ok else logging.WARNING,
                    "GPU health of engine %s: %s",
                    engine,
                    "ok" if ok else reason,
                )
        self._published, self._published_at = state, now
        return True

    async def run(self, stop: asyncio.Event) -> None:
        """Sample until stop; a failed read or publish is logged and tried again next time."""
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.sample)
                await self.publish_if_changed()
            except Exception as exc:  # the worker goes on; the next sample tries again
                log.warning("GPU sample failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.config.sample_seconds)
