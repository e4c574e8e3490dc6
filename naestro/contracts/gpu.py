"""GPUs: what one read of NVML says of a device, each engine's GPU health as its worker
judges it, and the leases of the GPU pool coordinator (workflows/gpu_pool.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from naestro.contracts.base import Frozen

GIB = 1 << 30
# While an engine's GPUs are judged unhealthy its worker sends the report again this often;
# routing ignores a report older than HEALTH_STALE_SECONDS (its worker is gone, and what it
# said no longer holds).
HEALTH_REFRESH_SECONDS = 60.0
HEALTH_STALE_SECONDS = 3 * HEALTH_REFRESH_SECONDS


class GpuProcess(Frozen):
    pid: int
    used_bytes: int | None = None
    engine: str | None = Field(default=None, description="the supervised engine it belongs to")


class GpuDevice(Frozen):
    """One GPU or one MIG instance, as read from NVML at one moment."""

    key: str = Field(
        description="what CUDA_VISIBLE_DEVICES takes: a whole GPU's index, a MIG instance's UUID"
    )
    index: int = Field(description="the physical GPU (a MIG instance's parent)")
    uuid: str
    name: str = ""
    mig_profile: str | None = Field(default=None, description="a MIG instance's, e.g. 1g.10gb")
    mig_enabled: bool = Field(default=False, description="a whole GPU split into MIG instances")
    memory_used_bytes: int = 0
    memory_total_bytes: int = 0
    utilization_pct: float | None = None
    temperature_c: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    sm_clock_mhz: int | None = None
    memory_clock_mhz: int | None = None
    ecc_uncorrected: int | None = Field(default=None, description="volatile, since driver load")
    xid: int | None = Field(default=None, description="the last critical XID event seen")
    processes: list[GpuProcess] = []
    error: str | None = Field(default=None, description="why NVML could not read it")

    @property
    def memory_fraction(self) -> float:
        if self.memory_total_bytes <= 0:
            return 0.0
        return self.memory_used_bytes / self.memory_total_bytes

    @property
    def label(self) -> str:
        return f"GPU {self.index}" + (f" MIG {self.mig_profile}" if self.mig_profile else "")


class EngineGpuHealth(Frozen):
    engine_id: str
    devices: list[str] = Field(description="device keys")
    ok: bool = True
    reason: str = ""


class GpuHealthReport(Frozen):
    """What the worker owning a pool's GPUs last judged of each engine on them."""

    pool: str
    host: str = ""
    engines: list[EngineGpuHealth] = []
    at: datetime | None = None

    def engine(self, engine_id: str) -> EngineGpuHealth | None:
        return next((e for e in self.engines if e.engine_id == engine_id), None)


LeaseStatus = Literal["queued", "granted", "preempt", "released", "expired", "revoked"]
HELD: frozenset[str] = frozenset({"granted", "preempt"})


class LeaseRequest(Frozen):
    """A holder's request for GPUs of one pool, each device held exclusively."""

    holder: str = Field(min_length=1, description="unique per holder (an activity attempt)")
    devices: list[str] = Field(min_length=1, description="device keys")
    priority: int = Field(default=3, ge=1, le=5, description="1 highest .. 5 lowest")
    purpose: str = ""
    preemptible: bool = Field(
        default=True,
        description="False: never asked to yield (an engine serving calls cannot checkpoint)",
    )
    ttl_seconds: float = Field(
        default=30.0, gt=0, description="not renewed this long: the lease or its queue place ends"
    )
    wait_seconds: float = Field(
        default=10.0, ge=0, description="how long one acquire waits for a grant before answering"
    )


class LeaseCall(Frozen):
    """Renew (and wait up to ``wait_seconds`` for news of) or release one holder's lease."""

    holder: str
    wait_seconds: float = Field(default=10.0, ge=0)


class LeaseState(Frozen):
    holder: str
    status: LeaseStatus
    devices: list[str] = []
    priority: int = 3
    purpose: str = ""
    fence: int = Field(default=0, description="grows with every grant: a stale holder's is lower")
    preempted_by: str | None = Field(default=None, description="the holder it should yield to")
    yield_by: float | None = Field(
        default=None, description="preempt: pool time by which it must yield, or be revoked"
    )
    detail: str = ""


class PoolView(Frozen):
    pool: str
    health: GpuHealthReport | None = None
    leases: list[LeaseState] = []
    queued: list[LeaseState] = []
    grants: int = 0
    preemptions: int = 0
    expired: int = 0
    revoked: int = Field(default=0, description="preempted holders that did not yield in time")


class LeaseRecord(Frozen):
    """One live holder in the coordinator's book (naestro/gpu_leases.py), as carried over."""

    request: LeaseRequest
    status: LeaseStatus
    seq: int = Field(description="arrival order within the pool")
    seen: float = Field(description="pool time of its last renewal")
    fence: int = 0
    preempted_by: str | None = None
    yield_by: float | None = None


class LeaseBookSnapshot(Frozen):
    """Everything a LeaseBook knows, for continue-as-new."""

    records: list[LeaseRecord] = []
    ended: list[LeaseState] = Field(default=[], description="the last holders that ended")
    fence: int = 0
    seq: int = 0
    grants: int = 0
    preemptions: int = 0
    expired: int = 0
    revoked: int = 0


class PoolConfig(Frozen):
    """The coordinator's own settings, given at start and carried through continue-as-new
    (with its book and the last health report)."""

    pool: str
    preempt_grace_seconds: float = Field(default=120.0, gt=0)
    max_events: int = Field(
        default=3000, ge=50, description="history events per run before continuing as new"
    )
    book: LeaseBookSnapshot | None = None
    health: GpuHealthReport | None = None


class GpuJobRequest(Frozen):
    """A GPU job that is not a model call: a command run on the pool's GPUs under a lease."""

    job_id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    pool: str = "local"
    argv: list[str] = Field(min_length=1)
    devices: list[str] = Field(min_length=1, description="device keys (index, GPU- or MIG-)")
    priority: int = Field(default=5, ge=1, le=5, description="1 foreground .. 5 background")
    purpose: str = ""
    env: dict[str, str] = {}
    timeout_seconds: float = Field(default=24 * 3600.0, gt=0)


class GpuJobResult(Frozen):
    job_id: str
    exit_code: int
    pauses: int = Field(description="times it checkpointed and yielded to higher priority")
    runs: int
    output_tail: str = ""
