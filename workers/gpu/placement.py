"""Placement: which GPUs or MIG instances each engine of this node's pool gets.

An engine names its GPUs in temporal.yaml (indices, GPU-/MIG- UUIDs, MIG profiles); this
resolves them against what NVML sees into device keys, the values CUDA_VISIBLE_DEVICES
takes. Exact refs are resolved first, then profiles in the engines' order, so a profile
never takes an instance another engine names. Settings validation has already refused the
claims it can see without NVML (settings._check_gpu_claims); this checks the rest.
"""

from __future__ import annotations

from naestro.config.settings import EngineConfig, GpuConfig, parse_gpu_ref
from naestro.contracts.gpu import GIB, GpuDevice
from naestro.errors import ConfigError

Plan = dict[str, list[str]]  # engine id -> device keys


def cuda_visible_devices(keys: list[str]) -> str:
    return ",".join(keys)


def place(engines: list[EngineConfig], gpu: GpuConfig, devices: list[GpuDevice]) -> Plan:
    """The device keys of each engine of this node's pool that declares GPUs. With no
    devices (no GPUs here, or planning away from the node) indices pass through unchecked."""
    mine = [e for e in engines if e.gpus and e.pool_of(gpu) == gpu.pool]
    if not devices:
        return {e.id: [_blind(e, ref) for ref in e.gpus] for e in mine}
    placer = _Placer(devices)
    for engine in mine:
        placer.exact(engine)
    for engine in mine:
        placer.profiles(engine)
    return {e.id: placer.plan[e.id] for e in mine}


def _blind(engine: EngineConfig, ref: int | str) -> str:
    kind, _, value = parse_gpu_ref(ref)
    if kind != "index":
        raise ConfigError(
            f"engines.{engine.id}.gpus: placing {ref} needs the node's GPUs, and NVML shows none"
        )
    return value


class _Placer:
    def __init__(self, devices: list[GpuDevice]) -> None:
        self.devices = devices
        self.plan: Plan = {}
        self.holder: dict[str, str] = {}  # device key -> engine

    def exact(self, engine: EngineConfig) -> None:
        self.plan[engine.id] = []
        for ref in engine.gpus:
            kind, _, value = parse_gpu_ref(ref)
            if kind in ("index", "uuid"):
                self._take(engine, self._whole(engine, value))
            elif kind == "mig":
                self._take(engine, self._instance(engine, value))

    def profiles(self, engine: EngineConfig) -> None:
        for ref in engine.gpus:
            kind, index, profile = parse_gpu_ref(ref)
            if kind == "profile":
                self._take(engine, self._free_instance(engine, profile, index))

    def _whole(self, engine: EngineConfig, ref: str) -> GpuDevice:
        """The whole GPU an index or a GPU- UUID names."""
        gpus = [d for d in self.devices if d.mig_profile is None]
        found = next((d for d in gpus if ref in (str(d.index), d.uuid)), None)
        if found is None:
            have = ", ".join(str(d.index) for d in gpus)
            raise ConfigError(f"engines.{engine.id}.gpus: no GPU {ref} here (GPUs: {have})")
        if found.mig_enabled:
            raise ConfigError(
                f"engines.{engine.id}.gpus: GPU {found.index} is split into MIG instances; "
                "name one (MIG-...) or a profile"
            )
        return found

    def _instance(self, engine: EngineConfig, uuid: str) -> GpuDevice:
        found = next((d for d in self.devices if d.mig_profile and d.key == uuid), None)
        if found is None:
            raise ConfigError(f"engines.{engine.id}.gpus: no MIG instance {uuid} here")
        return found

    def _free_instance(self, engine: EngineConfig, profile: str, index: int | None) -> GpuDevice:
        free = [d for d in self.devices if d.mig_profile and d.key not in self.holder]
        for device in free:
            if device.mig_profile == profile and index in (None, device.index):
                return device
        where = f" on GPU {index}" if index is not None else ""
        listed = ", ".join(f"{d.key} ({d.label})" for d in free) or "none"
        raise ConfigError(
            f"engines.{engine.id}.gpus: no free MIG {profile} instance{where}; "
            f"free instances: {listed}"
        )

    def _take(self, engine: EngineConfig, device: GpuDevice) -> None:
        """Hold the device for the engine, unless another holds it or (whole GPU against MIG
        instance) shares its GPU."""
        for held in self.devices:
            other = self.holder.get(held.key, engine.id)
            if other == engine.id or held.index != device.index:
                continue
            if held.key == device.key:
                raise ConfigError(
                    f"engines.{engine.id}.gpus and engines.{other}.gpus both place on "
                    f"{device.label} ({device.key})"
                )
            if not (held.mig_profile and device.mig_profile):
                whole, mig = (other, engine.id) if device.mig_profile else (engine.id, other)
                raise ConfigError(
                    f"engines.{whole}.gpus takes all of GPU {device.index}, and "
                    f"engines.{mig}.gpus a MIG instance on it"
                )
        self.holder[device.key] = engine.id
        if device.key not in self.plan[engine.id]:
            self.plan[engine.id].append(device.key)


def format_plan(plan: Plan, devices: list[GpuDevice]) -> list[str]:
    """One line per engine: its devices and the CUDA_VISIBLE_DEVICES it is started with."""
    by_key = {d.key: d for d in devices}
    lines = []
    for engine, keys in plan.items():
        described = ", ".join(_describe(key, by_key.get(key)) for key in keys)
        lines.append(f"{engine}: CUDA_VISIBLE_DEVICES={cuda_visible_devices(keys)}  {described}")
    return lines


def _describe(key: str, device: GpuDevice | None) -> str:
    if device is None:
        return f"GPU {key} (unchecked)"
    name = "" if device.mig_profile else f" {device.name}"
    return f"{device.label}{name} ({device.memory_total_bytes / GIB:.0f} GiB)"
