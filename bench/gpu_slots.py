"""GPU pool sharing on a simulated clock: leases with and without preemption.

Leases: a pool of DEVICES GPUs kept busy by background jobs (priority 5, BG_WORK seconds of
work each, BG_BACKLOG queued per GPU at all times) while foreground jobs (priority 1, one
GPU each, exponential durations of mean FG_MEAN seconds) arrive as a Poisson stream of
FG_RATE per second. Every decision is the real LeaseBook's (naestro/gpu_leases.py); the
simulation only moves the clock. A preempted background job takes YIELD_MIN..YIELD_MAX
seconds to checkpoint and exit (well inside the grace, so none is revoked), keeps the work
it did, and pays RESTART seconds of reloading when it runs again. Without preemption the
same streams run through a book that never asks a holder to yield. Seeded: the same seed
prints the same figures. Foreground wait: arrival to grant.

Slots: one engine's GPU (80 GiB, SLOT_BASE_GIB of weights resident) taking model calls that
arrive as a Poisson stream of CALL_RATE per second, each holding 1..3 GiB of KV cache (the
engine declares call_memory_mib 3 GiB) for an exponential CALL_MEAN seconds. Admission is the
real GpuSlots (workers/gpu/slots.py) fed by the real GpuSampler over the fake NVML, sampled
every SAMPLE_SECONDS; the comparison admits by the engine's concurrency alone (a fixed slot
count, as before). Peak memory is the highest the GPU held at any moment, against its cap
(gpu.admit_memory_fraction 0.95). Call wait: arrival to admission.

    .venv/bin/python bench/gpu_slots.py [--seed 7]
"""

from __future__ import annotations

import argparse
import heapq
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from naestro.config.settings import GpuConfig
from naestro.contracts.gpu import LeaseRequest
from naestro.gpu_leases import LeaseBook
from workers.gpu.nvml import FakeNvml, fake_gpu
from workers.gpu.slots import GpuSlots
from workers.gpu.telemetry import GpuSampler

DEVICES = 4
HORIZON = 48 * 3600.0
FG_RATE = 1 / 120.0  # foreground arrivals per second, pool-wide
FG_MEAN = 30.0
BG_WORK = 600.0
BG_BACKLOG = 2
YIELD_MIN, YIELD_MAX = 2.0, 5.0
RESTART = 5.0
GRACE = 120.0
TTL = 1e9  # renewals are not simulated: nobody dies here


@dataclass
class Job:
    name: str
    priority: int
    device: str
    work: float  # seconds of work left
    queued_at: float = 0.0
    runs: int = 0


@dataclass
class Outcome:
    fg_waits: list[float] = field(default_factory=list)
    bg_done: int = 0
    pauses: int = 0


class Simulation:
    def __init__(self, arrivals: list[tuple[float, str, float]], seed: int, preempt: bool):
        self.book = LeaseBook(GRACE, preempt=preempt)
        self.rng = random.Random(seed + 1)  # yield times: the same draws both ways
        self.now = 0.0
        self.events: list[tuple[float, int, str, str, int]] = []
        self.jobs: dict[str, Job] = {}
        self.running: dict[str, tuple[float, int]] = {}  # holder -> (work starts, token)
        self.yielding: dict[str, float] = {}  # holder -> seconds it takes to yield
        self.out = Outcome()
        self._seq = 0
        self._bg = 0
        for at, device, duration in arrivals:
            fg = Job(f"fg{self._seq}", 1, device, duration)
            self._push(at, "arrive", self._register(fg), 0)

    def run(self) -> Outcome:
        for d in range(DEVICES):
            for _ in range(BG_BACKLOG):
                self._new_background(str(d))
        self._reconcile()
        while self.events and self.events[0][0] <= HORIZON:
            self.now, _, kind, holder, token = heapq.heappop(self.events)
            getattr(self, f"_on_{kind}")(holder, token)
            self._reconcile()
        return self.out

    # ------------------------------------------------------------ events

    def _on_arrive(self, holder: str, _token: int) -> None:
        self._queue(holder)

    def _on_finish(self, holder: str, token: int) -> None:
        if self.running.get(holder, (0.0, -1))[1] != token:
            return  # it yielded before
        del self.running[holder]
        self.yielding.pop(holder, None)
        self.book.release(holder, self.now)
        job = self.jobs.pop(holder)
        if job.priority > 1:
            self.out.bg_done += 1
            self._new_background(job.device)

    def _on_yield(self, holder: str, _token: int) -> None:
        if holder not in self.running:
            return  # it finished first
        began, _ = self.running.pop(holder)
        job = self.jobs.pop(holder)
        signalled = self.now - self.yielding.pop(holder)
        job.work -= max(0.0, signalled - began)
        self.book.release(holder, self.now)
        self.out.pauses += 1
        self._queue(self._register(job))  # queues again with the same priority

    # ------------------------------------------------------------ the lease book

    def _reconcile(self) -> None:
        self.book.schedule(self.now)
        for state in self.book.leases():
            holder = state.holder
            if holder not in self.running:
                self._start(holder)
            if state.status == "preempt" and holder not in self.yielding:
                took = self.rng.uniform(YIELD_MIN, YIELD_MAX)
                self.yielding[holder] = took
                self._push(self.now + took, "yield", holder, 0)

    def _start(self, holder: str) -> None:
        job = self.jobs[holder]
        if job.priority == 1:
            self.out.fg_waits.append(self.now - job.queued_at)
        job.runs += 1
        began = self.now + (RESTART if job.runs > 1 else 0.0)
        self._seq += 1
        self.running[holder] = (began, self._seq)
        self._push(began + job.work, "finish", holder, self._seq)

    def _queue(self, holder: str) -> None:
        job = self.jobs[holder]
        job.queued_at = self.now
        request = LeaseRequest(
            holder=holder,
            devices=[job.device],
            priority=job.priority,
            ttl_seconds=TTL,
            wait_seconds=0,
        )
        self.book.acquire(request, self.now)

    # ------------------------------------------------------------ plumbing

    def _new_background(self, device: str) -> None:
        self._bg += 1
        self._queue(self._register(Job(f"bg{self._bg}", 5, device, BG_WORK)))

    def _register(self, job: Job) -> str:
        self._seq += 1
        holder = f"{job.name}/{self._seq}"
        self.jobs[holder] = job
        return holder

    def _push(self, at: float, kind: str, holder: str, token: int) -> None:
        self._seq += 1
        heapq.heappush(self.events, (at, self._seq, kind, holder, token))


def foreground_arrivals(seed: int) -> list[tuple[float, str, float]]:
    """(time, device, duration) of every foreground job: a Poisson stream."""
    rng = random.Random(seed)
    arrivals: list[tuple[float, str, float]] = []
    at = 0.0
    while True:
        at += rng.expovariate(FG_RATE)
        if at > HORIZON:
            return arrivals
        arrivals.append((at, str(rng.randrange(DEVICES)), rng.expovariate(1 / FG_MEAN)))


def percentile(values: list[float], q: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def lease_figures(seed: int) -> list[tuple[str, float]]:
    arrivals = foreground_arrivals(seed)
    runs = {
        mode: Simulation(arrivals, seed, preempt=mode == "with").run()
        for mode in ("with", "without")
    }
    hours = HORIZON / 3600
    figures: list[tuple[str, float]] = [("foreground_jobs", float(len(arrivals)))]
    for mode, out in runs.items():
        figures += [
            (f"foreground_wait_p50_s_{mode}_preemption", percentile(out.fg_waits, 50)),
            (f"foreground_wait_p95_s_{mode}_preemption", percentile(out.fg_waits, 95)),
            (f"background_jobs_per_hour_{mode}_preemption", out.bg_done / hours),
        ]
    figures += [
        ("background_pauses_with_preemption", float(runs["with"].pauses)),
        ("background_throughput_ratio", runs["with"].bg_done / max(runs["without"].bg_done, 1)),
    ]
    p95 = {mode: percentile(out.fg_waits, 95) for mode, out in runs.items()}
    figures.append(("foreground_p95_wait_ratio", p95["with"] / p95["without"]))
    return figures


SLOT_TOTAL_GIB = 80.0
SLOT_BASE_GIB = 40.0
SLOT_CAP = 0.95
SLOT_CONCURRENCY = 32
CALL_RATE = 1.6
CALL_MEAN = 8.0
CALL_GIB = (1.0, 3.0)
CALL_DECLARED_GIB = 3.0
SAMPLE_SECONDS = 2.0
SLOT_HORIZON = 4 * 3600.0
GIB = 1 << 30
CTX: object = None  # the SDK's slot contexts: GpuSlots reads nothing from them


@dataclass
class SlotRun:
    peak_fraction: float = 0.0
    seconds_over_cap: float = 0.0
    waits: list[float] = field(default_factory=list)


def slot_run(seed: int, memory_aware: bool) -> SlotRun:
    """One engine's calls on a simulated clock: arrivals, admissions, ends and samples."""
    rng = random.Random(seed)
    fake = FakeNvml([fake_gpu(0, SLOT_TOTAL_GIB, SLOT_BASE_GIB)])
    sampler = GpuSampler(fake, GpuConfig(), {"engine": ["0"]})
    sampler.sample()
    slots = GpuSlots(
        "engine",
        SLOT_CONCURRENCY,
        ["0"],
        sampler if memory_aware else None,
        SLOT_CAP,
        int(CALL_DECLARED_GIB * GIB),
    )
    events: list[tuple[float, int, str, float]] = []  # (time, seq, kind, memory or arrival)
    seq = 0

    def push(at: float, kind: str, value: float = 0.0) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(events, (at, seq, kind, value))

    at = 0.0
    while at < SLOT_HORIZON:
        at += rng.expovariate(CALL_RATE)
        push(at, "arrive", at)
    for tick in range(int(SLOT_HORIZON / SAMPLE_SECONDS)):
        push(tick * SAMPLE_SECONDS, "sample")
    used, last, out = SLOT_BASE_GIB, 0.0, SlotRun()
    waiting: list[float] = []
    cap = SLOT_CAP * SLOT_TOTAL_GIB
    while events:
        now, _, kind, value = heapq.heappop(events)
        if used > cap:
            out.seconds_over_cap += now - last
        last = now
        if kind == "arrive":
            waiting.append(value)
        elif kind == "end":
            used -= value
            slots.release_slot(CTX)  # type: ignore[arg-type]
        else:
            fake.set("0", memory_used_bytes=int(used * GIB))
            sampler.sample()
        while waiting and slots.try_reserve_slot(CTX) is not None:  # type: ignore[arg-type]
            out.waits.append(now - waiting.pop(0))
            memory = rng.uniform(*CALL_GIB)
            used += memory
            out.peak_fraction = max(out.peak_fraction, used / SLOT_TOTAL_GIB)
            push(now + rng.expovariate(1 / CALL_MEAN), "end", memory)
    return out


def slot_figures(seed: int) -> list[tuple[str, float]]:
    runs = {mode: slot_run(seed, mode == "memory_aware") for mode in ("memory_aware", "fixed")}
    figures: list[tuple[str, float]] = [("slot_cap_fraction", SLOT_CAP)]
    for mode, out in runs.items():
        figures += [
            (f"slot_peak_memory_fraction_{mode}", out.peak_fraction),
            (f"slot_seconds_over_cap_{mode}", out.seconds_over_cap),
            (f"slot_call_wait_p95_s_{mode}", percentile(out.waits, 95)),
        ]
    return figures


def emit(name: str, value: float) -> None:
    shown = str(int(value)) if float(value).is_integer() else f"{value:.4f}"
    print(f"{name} {shown}", flush=True)


def main(args: argparse.Namespace) -> None:
    for name, value in slot_figures(args.seed) + lease_figures(args.seed):
        emit(name, value)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    main(parser.parse_args())
