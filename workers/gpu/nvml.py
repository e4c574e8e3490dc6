"""NVML as a dependency boundary: one read of every GPU and MIG instance a node has.

``RealNvml`` (workers/gpu/real.py) reads the driver through ``nvidia-ml-py``; ``FakeNvml``
plays devices from a JSON file or from memory, for tests, benches and demos on machines
without a GPU, exactly as the scripted provider stands in for a model. Everything above this
module (sampler, placement, admission, routing, `naestro gpus`) sees only ``Nvml``.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Protocol

from naestro.config.settings import GpuConfig
from naestro.contracts.gpu import GpuDevice
from naestro.errors import ConfigError

FAKE = "fake:"


class Nvml(Protocol):
    def devices(self) -> list[GpuDevice]:
        """Every whole GPU and every MIG instance, read now (a GPU it cannot read carries
        ``error``; it is never left out)."""
        ...

    def close(self) -> None: ...


class NoGpus:
    """A node without GPUs (no driver, or ``gpu.nvml: none``)."""

    def devices(self) -> list[GpuDevice]:
        return []

    def close(self) -> None:
        return None


class FakeNvml:
    """Devices from memory, or from a JSON file (a list of GpuDevice objects) re-read when it
    changes, so a test can move a worker's GPU memory from outside its process."""

    def __init__(self, devices: list[GpuDevice] | None = None, path: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._devices = {d.key: d for d in devices or []}
        self._path = path
        self._stamp: tuple[float, int] | None = None

    @classmethod
    def from_file(cls, path: Path) -> FakeNvml:
        fake = cls(path=path)
        fake._reload()
        return fake

    def _reload(self) -> None:
        if self._path is None:
            return
        try:
            stat = self._path.stat()
        except OSError as exc:
            raise ConfigError(f"gpu.nvml: {self._path}: {exc.strerror}") from None
        stamp = (stat.st_mtime, stat.st_size)
        if stamp == self._stamp:
            return
        try:
            raw: Any = json.loads(self._path.read_text())
            devices = [GpuDevice.model_validate(d) for d in raw]
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"gpu.nvml: {self._path}: not a JSON list of devices: {exc}"
            ) from None
        self._devices, self._stamp = {d.key: d for d in devices}, stamp

    def devices(self) -> list[GpuDevice]:
        with self._lock:
            self._reload()
            return list(self._devices.values())

    def set(self, key: str, **changes: Any) -> GpuDevice:
        """Change one device (memory, errors, ...) as the next read will see it."""
        with self._lock:
            device = self._devices[key].model_copy(update=changes)
            self._devices[key] = device
            if self._path is not None:
                self._path.write_text(
                    json.dumps([d.model_dump(mode="json") for d in self._devices.values()])
                )
                self._stamp = None
            return device

    def close(self) -> None:
        return None


def write_fake(path: Path, devices: list[GpuDevice]) -> None:
    """The file ``gpu.nvml: fake:<path>`` reads."""
    path.write_text(json.dumps([d.model_dump(mode="json") for d in devices], indent=1))


def open_nvml(config: GpuConfig) -> Nvml:
    """The NVML this node's settings name: ``auto`` falls back to no GPUs when the driver's
    library is absent (a CPU machine), ``none`` never reads one."""
    source = config.nvml
    if source.startswith(FAKE):
        return FakeNvml.from_file(Path(source.removeprefix(FAKE)))
    if source == "none":
        return NoGpus()
    if source != "auto":
        raise ConfigError(f"gpu.nvml: {source!r}: use auto, none or fake:<path>")
    from workers.gpu.real import NvmlUnavailable, RealNvml

    try:
        return RealNvml(config.critical_xids)
    except NvmlUnavailable:
        return NoGpus()


def fake_gpu(index: int, total_gib: float = 80.0, used_gib: float = 0.0, **extra: Any) -> GpuDevice:
    """A whole fake GPU (tests, benches)."""
    gib = 1 << 30
    return GpuDevice(
        key=str(index),
        index=index,
        uuid=f"GPU-fake-{index:04d}",
        name="Fake H100 80GB",
        memory_total_bytes=int(total_gib * gib),
        memory_used_bytes=int(used_gib * gib),
        **extra,
    )


def fake_mig(
    index: int, slot: int, profile: str = "1g.10gb", total_gib: float = 10.0, **extra: Any
) -> GpuDevice:
    """A fake MIG instance on GPU ``index``."""
    uuid = f"MIG-fake-{index:02d}{slot:02d}"
    return GpuDevice(
        key=uuid,
        index=index,
        uuid=uuid,
        name=f"Fake H100 80GB MIG {profile}",
        mig_profile=profile,
        memory_total_bytes=int(total_gib * (1 << 30)),
        **extra,
    )
