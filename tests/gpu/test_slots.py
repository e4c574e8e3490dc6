"""GPU slots: an engine's worker admits a model call only while it has a free slot of its
declared concurrency and room under the memory cap on every GPU it is placed on, counting
calls admitted since the last sample; a sample that shows memory freed lets a held-back
call in. NVML is the fake at the dependency boundary."""

from __future__ import annotations

import asyncio
from typing import Any

from naestro.config.settings import GpuConfig
from workers.gpu.nvml import FakeNvml, fake_gpu
from workers.gpu.slots import GpuSlots
from workers.gpu.telemetry import GpuSampler

GIB = 1 << 30
CTX: Any = None  # the SDK's slot contexts: GpuSlots reads nothing from them


def slots_on(fake: FakeNvml, concurrency: int = 8, call_gib: float = 2.0) -> GpuSlots:
    sampler = GpuSampler(fake, GpuConfig(), {"vllm": ["0"]})
    sampler.sample()
    return GpuSlots("vllm", concurrency, ["0"], sampler, 0.9, int(call_gib * GIB))


async def test_concurrency_caps_admission_and_a_release_admits_the_next() -> None:
    slots = slots_on(FakeNvml([fake_gpu(0, used_gib=10)]), concurrency=2, call_gib=0)
    first, second = await slots.reserve_slot(CTX), await slots.reserve_slot(CTX)
    assert first and second and slots.refusal() == "concurrency"
    assert slots.try_reserve_slot(CTX) is None

    third = asyncio.create_task(slots.reserve_slot(CTX))
    await asyncio.sleep(0.05)
    assert not third.done()
    slots.release_slot(CTX)
    await asyncio.wait_for(third, 2)
    assert slots.reserved == 2


async def test_memory_projection_stops_admission_before_the_cap() -> None:
    # 80 GiB GPU, cap 0.9 = 72 GiB; 60 GiB used, 2 GiB per call: six calls fit (72 GiB),
    # the seventh would pass the cap before any sample could show the first six.
    fake = FakeNvml([fake_gpu(0, used_gib=60)])
    slots = slots_on(fake)
    for _ in range(6):
        assert slots.try_reserve_slot(CTX) is not None
    assert slots.refusal() == "memory"
    assert slots.reserved == 6


async def test_a_sample_showing_freed_memory_lets_a_held_back_call_in() -> None:
    fake = FakeNvml([fake_gpu(0, used_gib=71)])  # no room for a 2 GiB call under 72 GiB
    slots = slots_on(fake)
    sampler = slots._sampler
    assert sampler is not None
    waiting = asyncio.create_task(slots.reserve_slot(CTX))
    await asyncio.sleep(0.1)
    assert not waiting.done() and slots.refusal() == "memory"

    fake.set("0", memory_used_bytes=40 * GIB)  # another process let go of its memory
    await asyncio.to_thread(sampler.sample)  # as the sampler's loop reads it
    await asyncio.wait_for(waiting, 2)
    assert slots.reserved == 1


async def test_a_sample_counts_admitted_calls_afresh() -> None:
    fake = FakeNvml([fake_gpu(0, used_gib=60)])
    slots = slots_on(fake, concurrency=16)
    for _ in range(6):
        slots.try_reserve_slot(CTX)
    assert slots.refusal() == "memory"
    sampler = slots._sampler
    assert sampler is not None
    # The next sample shows what the six calls really took (less than 1 GiB each).
    fake.set("0", memory_used_bytes=65 * GIB)
    sampler.sample()
    assert slots.refusal() is None  # 65 + 2 <= 72
    assert slots.try_reserve_slot(CTX) is not None
    assert slots.try_reserve_slot(CTX) is not None
    assert slots.try_reserve_slot(CTX) is not None
    assert slots.refusal() == "memory"  # 65 + 3 * 2 = 71: a fourth would pass 72
