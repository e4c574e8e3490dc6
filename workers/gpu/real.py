"""NVML through ``nvidia-ml-py``: the one module that knows pynvml.

Each field is read on its own: NOT_SUPPORTED is common (no utilization on a MIG instance,
no ECC on consumer cards) and leaves that field None. A GPU NVML cannot read at all (lost,
fallen off the bus) is still returned, with ``error`` set, so the sampler can judge it.
Critical XID events arrive on an event set per GPU, drained without blocking at each read;
the last one stays on the GPU (and its MIG instances) until the process restarts, since a
critical XID needs a GPU reset.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import pynvml

from naestro.contracts.gpu import GpuDevice, GpuProcess

T = TypeVar("T")
_MIG_NAME = re.compile(r"\bMIG\s+(\S+)\s*$")
_MAX_EVENTS_PER_READ = 256  # a flood of events never stalls a sample


class NvmlUnavailable(Exception):
    """No NVML here: the library or the driver is absent (a machine without GPUs)."""


def mig_profile(name: str) -> str | None:
    """A MIG instance's profile from its device name: "NVIDIA H100 80GB HBM3 MIG 1g.10gb"
    -> "1g.10gb"; None for a whole GPU's name."""
    match = _MIG_NAME.search(name)
    return match.group(1) if match else None


def _read(call: Callable[[], T]) -> T | None:
    try:
        return call()
    except pynvml.NVMLError:
        return None


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RealNvml:
    def __init__(self, critical_xids: list[int]) -> None:
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as exc:  # LibraryNotFound, DriverNotLoaded, ...
            raise NvmlUnavailable(str(exc)) from None
        self._critical = frozenset(critical_xids)
        self._lock = threading.Lock()
        self._xids: dict[int, int] = {}  # GPU index -> last XID seen
        self._events: dict[int, Any] = {}  # GPU index -> its event set
        count = _read(pynvml.nvmlDeviceGetCount) or 0
        for index in range(count):
            self._register(index)

    def _register(self, index: int) -> None:
        try:
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            events = pynvml.nvmlEventSetCreate()
        except pynvml.NVMLError:
            return
        try:
            pynvml.nvmlDeviceRegisterEvents(handle, pynvml.nvmlEventTypeXidCriticalError, events)
        except pynvml.NVMLError:  # NOT_SUPPORTED (consumer cards, some VMs)
            _read(lambda: pynvml.nvmlEventSetFree(events))
            return
        self._events[index] = events

    def devices(self) -> list[GpuDevice]:
        with self._lock:
            self._drain_events()
            count = _read(pynvml.nvmlDeviceGetCount) or 0
            out: list[GpuDevice] = []
            for index in range(count):
                out.extend(self._gpu(index))
            return out

    def _drain_events(self) -> None:
        for index, events in self._events.items():
            for _ in range(_MAX_EVENTS_PER_READ):
                try:
                    data = pynvml.nvmlEventSetWait_v2(events, 0)
                except pynvml.NVMLError:  # Timeout: none left
                    break
                xid = int(data.eventData)
                # A critical XID is not forgotten for a later, harmless one.
                if xid in self._critical or self._xids.get(index) not in self._critical:
                    self._xids[index] = xid

    def _gpu(self, index: int) -> list[GpuDevice]:
        """The GPU, then its MIG instances when MIG is on."""
        xid = self._xids.get(index)
        try:
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
        except pynvml.NVMLError as exc:  # GpuIsLost, Unknown, ...
            error = str(exc) or type(exc).__name__
            return [GpuDevice(key=str(index), index=index, uuid="", xid=xid, error=error)]
        modes = _read(lambda: pynvml.nvmlDeviceGetMigMode(handle)) or [None]  # [current, pending]
        mig_on = modes[0] == pynvml.NVML_DEVICE_MIG_ENABLE
        gpu = GpuDevice(
            key=str(index),
            index=index,
            uuid=_text(_read(lambda: pynvml.nvmlDeviceGetUUID(handle)) or ""),
            name=_text(_read(lambda: pynvml.nvmlDeviceGetName(handle)) or ""),
            mig_enabled=mig_on,
            memory_used_bytes=int(memory.used),
            memory_total_bytes=int(memory.total),
            xid=xid,
            **_readings(handle),
        )
        return [gpu, *self._migs(handle, index, xid)] if mig_on else [gpu]

    def _migs(self, handle: Any, index: int, xid: int | None) -> list[GpuDevice]:
        out = []
        slots = _read(lambda: pynvml.nvmlDeviceGetMaxMigDeviceCount(handle)) or 0
        for slot in range(slots):
            try:
                mig = pynvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, slot)
                uuid = _text(pynvml.nvmlDeviceGetUUID(mig))
            except pynvml.NVMLError:  # NOT_FOUND: no instance in that slot
                continue
            out.append(_mig(mig, uuid, index, xid))
        return out

    def close(self) -> None:
        with self._lock:
            for events in self._events.values():
                with contextlib.suppress(pynvml.NVMLError):
                    pynvml.nvmlEventSetFree(events)
            self._events.clear()
            _read(pynvml.nvmlShutdown)


def _mig(handle: Any, uuid: str, index: int, xid: int | None) -> GpuDevice:
    """One MIG instance: its UUID is its key; the GPU's XID, since a critical XID takes
    every instance of the GPU down."""
    name = _text(_read(lambda: pynvml.nvmlDeviceGetName(handle)) or "")
    try:
        memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
        used, total, error = int(memory.used), int(memory.total), None
    except pynvml.NVMLError as exc:
        used, total, error = 0, 0, str(exc) or type(exc).__name__
    return GpuDevice(
        key=uuid,
        index=index,
        uuid=uuid,
        name=name,
        mig_profile=mig_profile(name),
        memory_used_bytes=used,
        memory_total_bytes=total,
        xid=xid,
        error=error,
        **(_readings(handle) | {"utilization_pct": None}),  # not per instance in NVML
    )


def _readings(handle: Any) -> dict[str, Any]:
    """The optional fields of a GPU or MIG handle; each None where NVML cannot say."""
    utilization = _read(lambda: pynvml.nvmlDeviceGetUtilizationRates(handle))
    power = _read(lambda: pynvml.nvmlDeviceGetPowerUsage(handle))
    limit = _read(lambda: pynvml.nvmlDeviceGetEnforcedPowerLimit(handle))
    return {
        "utilization_pct": float(utilization.gpu) if utilization is not None else None,
        "temperature_c": _float(
            _read(lambda: pynvml.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU))
        ),
        "power_w": power / 1000 if power is not None else None,
        "power_limit_w": limit / 1000 if limit is not None else None,
        "sm_clock_mhz": _read(lambda: pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_SM)),
        "memory_clock_mhz": _read(
            lambda: pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_MEM)
        ),
        "ecc_uncorrected": _read(
            lambda: pynvml.nvmlDeviceGetTotalEccErrors(
                handle, pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, pynvml.NVML_VOLATILE_ECC
            )
        ),
        "processes": _processes(handle),
    }


def _float(value: float | None) -> float | None:
    return float(value) if value is not None else None


def _processes(handle: Any) -> list[GpuProcess]:
    try:
        running = pynvml.nvmlDeviceGetComputeRunningProcesses(handle)
    except pynvml.NVMLError_FunctionNotFound:  # drivers before 510 lack the _v3 call
        running = _read(lambda: pynvml.nvmlDeviceGetComputeRunningProcesses_v2(handle)) or []
    except pynvml.NVMLError:
        running = []
    return [GpuProcess(pid=int(p.pid), used_bytes=p.usedGpuMemory) for p in running]
