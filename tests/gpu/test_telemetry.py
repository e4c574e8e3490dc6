"""The GPU sampler over a fake NVML: each engine's verdict, the metrics it exports, and GPU
processes mapped to the engine whose session they belong to."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from naestro.config.settings import GpuConfig
from naestro.contracts.gpu import GIB, GpuProcess
from workers.gpu.nvml import FakeNvml, fake_gpu, fake_mig
from workers.gpu.telemetry import GpuSampler, session_of


@pytest.fixture
def config() -> GpuConfig:
    return GpuConfig(pool=f"t{uuid.uuid4().hex[:8]}")  # its own metric series


def sampler_on(config: GpuConfig, placements: dict[str, list[str]]) -> tuple[FakeNvml, GpuSampler]:
    nvml = FakeNvml([fake_gpu(0, used_gib=10), fake_gpu(1), fake_mig(2, 0)])
    return nvml, GpuSampler(nvml, config, placements=placements)


def metric(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_healthy_gpus_are_ok(config: GpuConfig) -> None:
    _, sampler = sampler_on(config, {"vllm": ["0", "1"], "small": ["MIG-fake-0200"]})
    sampler.sample()
    assert all(v.ok for v in sampler.verdicts.values()), sampler.verdicts
    assert sampler.verdicts["vllm"].devices == ["0", "1"]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"memory_used_bytes": 80 * GIB}, "GPU 1 out of memory (80.0 of 80.0 GiB)"),
        ({"xid": 79}, "GPU 1: XID 79 error"),
        ({"error": "GPU is lost"}, "GPU 1 unreadable: GPU is lost"),
    ],
)
def test_a_failing_gpu_makes_its_engine_unhealthy(
    config: GpuConfig, changes: dict[str, object], reason: str
) -> None:
    nvml, sampler = sampler_on(config, {"vllm": ["0", "1"], "other": ["MIG-fake-0200"]})
    sampler.sample()
    nvml.set("1", **changes)
    sampler.sample()
    assert not sampler.verdicts["vllm"].ok
    assert sampler.verdicts["vllm"].reason == reason
    assert sampler.verdicts["other"].ok  # another engine's GPUs are not its business
    assert metric("naestro_gpu_engine_healthy", pool=config.pool, engine="vllm") == 0
    assert metric("naestro_gpu_engine_healthy", pool=config.pool, engine="other") == 1


def test_a_harmless_xid_and_old_ecc_errors_are_not_failures(config: GpuConfig) -> None:
    nvml, sampler = sampler_on(config, {"vllm": ["1"]})
    nvml.set("1", xid=8, ecc_uncorrected=3)  # 8: not critical; 3 errors before we started
    sampler.sample()
    assert sampler.verdicts["vllm"].ok
    nvml.set("1", ecc_uncorrected=5)
    sampler.sample()
    assert sampler.verdicts["vllm"].reason == "GPU 1: 2 new uncorrected ECC errors"


def test_a_missing_device_is_reported(config: GpuConfig) -> None:
    _, sampler = sampler_on(config, {"vllm": ["0", "5"]})
    sampler.sample()
    assert sampler.verdicts["vllm"].reason == "GPU 5 not found"


def test_readings_are_exported(config: GpuConfig) -> None:
    nvml, sampler = sampler_on(config, {"vllm": ["0"]})
    nvml.set(
        "0",
        utilization_pct=42.0,
        temperature_c=61.0,
        power_w=350.0,
        sm_clock_mhz=1980,
        ecc_uncorrected=0,
    )
    sampler.sample()
    on0 = {"pool": config.pool, "gpu": "0"}
    assert metric("naestro_gpu_memory_used_bytes", **on0) == 10 * GIB
    assert metric("naestro_gpu_memory_total_bytes", **on0) == 80 * GIB
    assert metric("naestro_gpu_utilization_ratio", **on0) == pytest.approx(0.42)
    assert metric("naestro_gpu_temperature_celsius", **on0) == 61
    assert metric("naestro_gpu_power_watts", **on0) == 350
    assert metric("naestro_gpu_sm_clock_hertz", **on0) == 1980e6
    assert metric("naestro_gpu_ecc_uncorrected_errors", **on0) == 0
    on1 = {"pool": config.pool, "gpu": "1"}
    assert metric("naestro_gpu_utilization_ratio", **on1) is None  # not read: no series
    nvml.set("1", xid=79)
    sampler.sample()
    sampler.sample()  # the same XID again: counted once
    assert metric("naestro_gpu_xid_errors_total", **on1, xid="79") == 1
    nvml.set("1", error="GPU is lost")
    sampler.sample()
    assert metric("naestro_gpu_read_errors_total", **on1) == 1


@pytest.fixture
def engine_session() -> Iterator[tuple[int, int]]:
    """A stand-in engine: a session leader and a child of it (as vLLM's GPU workers are)."""
    code = (
        "import subprocess, time\n"
        "print(subprocess.Popen(['sleep', '60']).pid, flush=True)\n"
        "time.sleep(60)"
    )
    leader = subprocess.Popen(
        [sys.executable, "-c", code], start_new_session=True, stdout=subprocess.PIPE, text=True
    )
    try:
        assert leader.stdout is not None
        child = int(leader.stdout.readline())
        yield leader.pid, child
    finally:
        os.killpg(leader.pid, signal.SIGKILL)
        leader.wait()


def test_gpu_processes_map_to_the_engine_by_session(
    config: GpuConfig, engine_session: tuple[int, int]
) -> None:
    leader, child = engine_session
    assert session_of(child) == leader
    listed = [GpuProcess(pid=child, used_bytes=GIB), GpuProcess(pid=1)]
    nvml = FakeNvml([fake_gpu(0, processes=listed)])
    sampler = GpuSampler(nvml, config, {"vllm": ["0"]}, owners=lambda: {leader: "vllm"})
    (device,) = sampler.sample()
    assert [(p.pid, p.engine) for p in device.processes] == [(child, "vllm"), (1, None)]
    assert sampler.device("0") == device
