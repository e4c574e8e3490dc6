"""Throughput: tasks and model calls per second through TaskWorkflow against the slot limit.

A Temporal dev server for each mode, configured as `naestro dev` runs it (cli/devstack.py:
its dynamic config, its SQLite file in WAL mode). Model calls are the replay provider with a
simulated latency of 0.5 s (``simulated_latency_ms``), and the model queue has 64 slots in all (the
provider's ``max_concurrency``, which sets both the worker's activity slots and the
registry's semaphore), so no set-up can exceed 64 / 0.5 = 128 model calls a second. Each
task runs plan -> implement -> review (3 model calls; the judge accepts at once), under the
default policy otherwise (streamed replies, live tokens). The bench keeps
``--tasks-in-flight`` tasks open, waits out a warm-up, then counts the tasks that finish in
a window of ``--seconds`` and the CPU the worker processes and the dev server used in it.

Two modes, each with fresh worker processes (subprocesses of this one, polling every queue:
orchestrator and models) and a fresh dev server:

- ``one_worker``: one process with all 64 slots;
- ``two_workers``: two processes with 32 slots each: the same 64 slots in all, so the limit
  stays 128 calls/s and the figure says what a second process adds (CPU, another event
  loop and workflow runner), not what more slots would.

Prints ``name value`` lines per mode: tasks/s, model calls/s, the ratio to the limit, CPU
ms per model call (workers, dev server, both; the load generator apart), the cores each
used, and the machine's CPU use in the window (this bench shares its machine). The two
workers' ratio to the limit last (target >= 0.8).

    .venv/bin/python bench/throughput.py [--seconds 40] [--tasks-in-flight 128] [--warmup 10]
        [--no-stream]

Tasks start ramped over the first half of the warm-up: a burst of 128 first workflow tasks
(each builds a sandboxed workflow instance) swamped the busy 2-core machine, workflow tasks
timed out and were retried, and throughput collapsed to under 1 call/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cli.devstack import DEV_SERVER_DYNAMIC_CONFIG, SQLITE_FILE_ARGS, find_temporal
from naestro import search
from naestro.client import start_task
from naestro.codec import converter_from_env
from naestro.config.settings import Settings
from naestro.contracts import Budget, TaskRequest
from naestro.exit import exit_after
from naestro.watchdog import die_with_parent

LATENCY_S = 0.5
SLOTS = 64
LIMIT_CALLS_PER_S = SLOTS / LATENCY_S
VERDICT = json.dumps({"verdict": "accept", "score": 0.9, "rationale": "fine"})
REQUEST = TaskRequest(prompt="Explain caching.", budget=Budget(max_refine_rounds=0))
STOP_GRACE_S = 10.0


def bench_config(script: Path, tag: str, slots: int, stream: bool) -> dict[str, Any]:
    """The settings of one mode's workers: its own queues, ``slots`` model slots each."""
    roles = {r: ["scripted"] for r in ("planner", "implementer", "refiner", "judge")}
    return {
        "providers": [
            {
                "id": "scripted",
                "engine": "replay",
                "model": "m",
                "script": str(script),
                "simulated_latency_ms": LATENCY_S * 1000,
                "max_concurrency": slots,
                "task_queue": f"models-{tag}",
            }
        ],
        "policies": {"default": {"roles": roles, "stream": stream}},
        "queues": {"orchestrator": f"orch-{tag}", "sandbox": f"sb-{tag}"},
        "deploy": {"make_current": "always"},  # its own server: its version serves
    }


# The worker side: a subprocess running every queue of its settings until SIGTERM.


async def serve(address: str, config: Path) -> None:
    from naestro.connect import connect
    from workers.deps import Deps
    from workers.main import run_workers, select_queues

    # Read once, before the workers start: nothing else runs on this loop yet.
    settings = Settings.model_validate_json(config.read_bytes())  # noqa: ASYNC240
    client = await connect(address)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await run_workers(client, Deps.from_settings(settings), select_queues(settings, []), stop)


def worker_env(cache: Path) -> dict[str, str]:
    """This environment, with bytecode kept in ``cache`` (kept between runs). The sandbox
    imports the workflow modules afresh for every workflow run; without bytecode
    (PYTHONDONTWRITEBYTECODE=1 and a stale __pycache__, as in a shared checkout) it compiles
    them from source each time, CPU an installed package never spends."""
    env = {**os.environ, "PYTHONPYCACHEPREFIX": str(cache)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


@contextlib.contextmanager
def worker_processes(address: str, configs: list[Path], log: Path) -> Iterator[list[int]]:
    """One worker process per config, each in its own process group and stopped with its
    parent (PR_SET_PDEATHSIG); every group is stopped on the way out."""
    procs: list[subprocess.Popen[bytes]] = []
    env = worker_env(Path(__file__).resolve().parent.parent / ".naestro" / "pycache")
    try:
        with log.open("ab") as out:
            for config in configs:
                line = [sys.executable, __file__, "--serve", str(config), "--address", address]
                procs.append(
                    subprocess.Popen(
                        line,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        env=env,
                        start_new_session=True,
                        preexec_fn=lambda: die_with_parent(signal.SIGTERM),
                    )
                )
        yield [p.pid for p in procs]
    finally:
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait()


# The load side.


@dataclass
class Load:
    """Finished tasks as (monotonic time, model calls, seconds open); the tasks open; the
    window's CPU."""

    done: list[tuple[float, int, float]] = field(default_factory=list)
    open: dict[str, WorkflowHandle[Any, Any]] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)

    def in_window(self, start: float, end: float) -> tuple[int, int, float]:
        """Tasks finished in [start, end), their model calls, their mean seconds open."""
        hits = [(calls, took) for at, calls, took in self.done if start <= at < end]
        took = sum(t for _, t in hits) / max(len(hits), 1)
        return len(hits), sum(c for c, _ in hits), took


async def keep_busy(client: Client, queue: str, load: Load, delay: float) -> None:
    """After ``delay``, start a task, wait for it, again, until cancelled."""
    await asyncio.sleep(delay)
    while True:
        began = time.monotonic()
        handle = await start_task(client, REQUEST, task_queue=queue)
        load.open[handle.id] = handle
        result = await handle.result()
        del load.open[handle.id]
        now = time.monotonic()
        load.done.append((now, result.spend.model_calls, now - began))


TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: dict[str, list[int]]) -> dict[str, float]:
    """CPU time (user + system, reaped children included) of each named group of processes,
    and of the whole machine (``machine``: CPU seconds over all its cores)."""
    seconds = {name: sum(_cpu(pid) for pid in group) for name, group in pids.items()}
    with open("/proc/stat") as stat:  # cpu user nice system idle iowait irq softirq steal
        ticks = [int(t) for t in stat.readline().split()[1:9]]
    seconds["machine"] = (sum(ticks) - ticks[3] - ticks[4]) * TICK_S
    return seconds


def _stat(pid: int) -> list[str]:
    """/proc/PID/stat's fields after the command name: state ppid pgrp ... utime stime."""
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()


def _cpu(pid: int) -> float:
    return sum(int(t) for t in _stat(pid)[11:15]) * TICK_S  # utime stime cutime cstime


async def run_mode(
    client: Client, server_pid: int, tmp: Path, processes: int, a: argparse.Namespace
) -> dict[str, float]:
    tag = uuid.uuid4().hex[:8]
    script = tmp / f"script-{tag}.jsonl"
    rules = [{"role": "judge", "text": VERDICT}, {"text": "an answer"}]
    script.write_text("".join(json.dumps(r) + "\n" for r in rules))
    config = tmp / f"settings-{tag}.json"
    config.write_text(json.dumps(bench_config(script, tag, SLOTS // processes, not a.no_stream)))
    address = client.service_client.config.target_host
    with worker_processes(address, [config] * processes, tmp / "workers.log") as workers:
        queue = f"orch-{tag}"
        await asyncio.wait_for(_one_task(client, queue), 120)  # the workers are up
        pids = {"workers": workers, "server": [server_pid], "client": [os.getpid()]}
        load = Load()
        start = time.monotonic() + a.warmup
        end = start + a.seconds
        # Ramped over the first half of the warm-up (the module docstring says why).
        ramp = a.warmup / 2 / a.tasks_in_flight
        drivers = [
            asyncio.create_task(keep_busy(client, queue, load, i * ramp))
            for i in range(a.tasks_in_flight)
        ]
        try:
            await _sample(pids, load, start, end)
        finally:
            for d in drivers:
                d.cancel()
            outcomes = await asyncio.gather(*drivers, return_exceptions=True)
            # Ended, so that their timeouts and retries cost the next mode nothing.
            await asyncio.gather(
                *(h.terminate("throughput window over") for h in load.open.values()),
                return_exceptions=True,
            )
        failed = [o for o in outcomes if not isinstance(o, asyncio.CancelledError)]
        if failed:
            raise RuntimeError(f"{len(failed)} task(s) failed, the first: {failed[0]!r}")
    tasks, calls, took = load.in_window(start, end)
    return figures(tasks, calls, took, a.seconds, load.cpu)


async def _one_task(client: Client, queue: str) -> None:
    await (await start_task(client, REQUEST, task_queue=queue)).result()


async def _sample(pids: dict[str, list[int]], load: Load, start: float, end: float) -> None:
    await asyncio.sleep(start - time.monotonic())
    before = cpu_seconds(pids)
    await asyncio.sleep(end - time.monotonic())
    after = cpu_seconds(pids)
    load.cpu = {name: after[name] - before[name] for name in after}


def figures(
    tasks: int, calls: int, took: float, seconds: float, cpu: dict[str, float]
) -> dict[str, float]:
    per_call = 1000 / max(calls, 1)
    return {
        "tasks_per_s": tasks / seconds,
        "task_seconds_mean": took,
        "model_calls_per_task": calls / max(tasks, 1),
        "model_calls_per_s": calls / seconds,
        "worker_cpu_ms_per_call": cpu["workers"] * per_call,
        "server_cpu_ms_per_call": cpu["server"] * per_call,
        "cpu_ms_per_call": (cpu["workers"] + cpu["server"]) * per_call,
        "client_cpu_ms_per_call": cpu["client"] * per_call,
        "worker_cores": cpu["workers"] / seconds,
        "server_cores": cpu["server"] / seconds,
        "machine_cores_busy": cpu["machine"] / seconds,
        "limit_ratio": calls / seconds / LIMIT_CALLS_PER_S,
    }


def dev_server_pid() -> int:
    """The dev server: the `temporal` child WorkflowEnvironment started."""
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int(_stat(int(entry.name))[1]) == os.getpid():
                if (entry / "comm").read_text().strip() == "temporal":
                    return int(entry.name)
        except OSError:  # ended meanwhile
            continue
    raise RuntimeError("no Temporal dev server among this process's children")


def _tail(log: Path) -> str:
    """The end of the workers' output, to show with a failure."""
    try:
        return log.read_text(errors="replace")[-4000:]
    except OSError:
        return ""


async def main(a: argparse.Namespace) -> None:
    print(f"machine_cores {os.cpu_count()}")
    print(f"limit_calls_per_s {LIMIT_CALLS_PER_S:.0f}")
    for mode, processes in (("one_worker", 1), ("two_workers", 2)):
        # A fresh dev server a mode: on one server the second mode ran on the first one's
        # thousand finished tasks, and the server's CPU a call grew with them.
        with tempfile.TemporaryDirectory() as tmp:
            env = await WorkflowEnvironment.start_local(
                dev_server_existing_path=find_temporal(Path(".naestro")),
                dev_server_database_filename=str(Path(tmp) / "temporal.sqlite"),
                dev_server_extra_args=[*DEV_SERVER_DYNAMIC_CONFIG, *SQLITE_FILE_ARGS],
                search_attributes=search.ALL,
                data_converter=converter_from_env(),
            )
            async with env:
                try:
                    result = await run_mode(env.client, dev_server_pid(), Path(tmp), processes, a)
                except BaseException:
                    sys.stderr.write(_tail(Path(tmp) / "workers.log"))
                    raise
        for name, value in result.items():
            print(f"{mode}_{name} {value:.3f}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=40.0, help="measured window")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds before it")
    parser.add_argument("--tasks-in-flight", type=int, default=128)
    parser.add_argument(
        "--no-stream", action="store_true", help="the policy's stream off (no live tokens)"
    )
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)  # a worker process
    parser.add_argument("--address", help=argparse.SUPPRESS)
    a = parser.parse_args()
    if a.serve:
        exit_after(lambda: asyncio.run(serve(a.address, a.serve)))
    exit_after(lambda: asyncio.run(main(a)))
