"""The GPU pool coordinator on the dev server: a background job pauses for a foreground job
on its GPU and resumes from its checkpoint; a holder that dies stops renewing and loses its
lease to the next; leases survive the coordinator continuing as new; the pool query shows
leases, queue, counters and the last health report."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from temporalio.client import Client

from activities.gpu.lease import GpuLease, LeaseRefused
from cli.gpu_jobs import leases_command, run_command
from naestro import names
from naestro.config.settings import Settings
from naestro.contracts.gpu import (
    GpuHealthReport,
    GpuJobRequest,
    GpuJobResult,
    LeaseRequest,
    PoolConfig,
    PoolView,
)
from tests.replay import replayer
from tests.support import make_settings, replay_provider, settle_once, write_script
from workers import orchestrator
from workers.deps import Deps
from workers.gpu import jobs_worker
from workflows.gpu_job import GpuJobWorkflow

ROOT = Path(__file__).resolve().parents[2]
TTL, GRACE = 3.0, 5.0
# A background job: 30 steps of 0.1 s, its step in $NAESTRO_CHECKPOINT_DIR/step; on SIGTERM
# it checkpoints and exits 75, and resumes from the file when started again.
BACKGROUND = """
import os, pathlib, signal, sys, time
step_file = pathlib.Path(os.environ["NAESTRO_CHECKPOINT_DIR"]) / "step"
step = int(step_file.read_text()) if step_file.exists() else 0
print(f"resumed at {step} on GPU {os.environ['CUDA_VISIBLE_DEVICES']}", flush=True)
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
while step < 30:
    if stop:
        step_file.write_text(str(step))
        print(f"checkpointed at {step}", flush=True)
        sys.exit(75)
    time.sleep(0.1)
    step += 1
    step_file.write_text(str(step))
print("background done", flush=True)
"""
FOREGROUND = """
import os, time
time.sleep(0.5)
print(f"foreground on GPU {os.environ['CUDA_VISIBLE_DEVICES']}", flush=True)
"""
# A holder in a process of its own, holding its lease until killed.
HOLDER = """
import asyncio, sys
from activities.gpu.lease import GpuLease, LeaseRefused
from cli.gpu_jobs import leases_command, run_command
from naestro.connect import connect
from naestro.contracts.gpu import LeaseRequest, PoolConfig

async def main(pool, queue, ttl):
    lease = GpuLease(
        await connect(), pool,
        LeaseRequest(holder="doomed", devices=["0"], ttl_seconds=ttl, wait_seconds=1),
        queue, PoolConfig(pool=pool, preempt_grace_seconds=5),
    )
    async with lease:
        print("granted", lease.fence, flush=True)
        await asyncio.Event().wait()

asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
"""


def pool_settings(tmp_path: Path) -> Settings:
    script = write_script(tmp_path / "script.jsonl", [])
    gpu = {
        "pool": f"p{uuid.uuid4().hex[:8]}",
        "lease_ttl_seconds": TTL,
        "preempt_grace_seconds": GRACE,
    }
    return make_settings(
        tmp_path, [replay_provider(script)], gpu=gpu, dev={"data_dir": str(tmp_path / "data")}
    )


@asynccontextmanager
async def pool_workers(client: Client, settings: Settings) -> AsyncIterator[None]:
    """The orchestrator worker (the coordinator, the job workflows) and the pool's jobs
    worker; the coordinator is terminated afterwards (it would live forever)."""
    deps = Deps.from_settings(settings)
    try:
        async with (
            orchestrator.build_worker(client, deps, settings.queues.orchestrator),
            jobs_worker.build_worker(client, deps, settings.gpu.jobs_queue, 4),
        ):
            await settle_once(client, settings)
            yield
            await client.get_workflow_handle(settings.gpu.coordinator_id).terminate("test over")
    finally:
        await deps.aclose()


def lease_for(
    client: Client, settings: Settings, holder: str, priority: int = 3, **config: Any
) -> GpuLease:
    pool = settings.gpu.pool
    request = LeaseRequest(
        holder=holder, devices=["0"], priority=priority, ttl_seconds=TTL, wait_seconds=1
    )
    pool_config = PoolConfig(pool=pool, preempt_grace_seconds=GRACE, **config)
    return GpuLease(client, pool, request, settings.queues.orchestrator, pool_config)


async def view(client: Client, settings: Settings) -> PoolView:
    handle = client.get_workflow_handle(settings.gpu.coordinator_id)
    result: PoolView = await handle.query(names.GPU_POOL_QUERY, result_type=PoolView)
    return result


async def until(check: Callable[[], Any], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not await _holds(check):
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)


async def _holds(check: Callable[[], Any]) -> bool:
    result = check()
    return bool(await result if asyncio.iscoroutine(result) else result)


async def test_a_background_job_pauses_for_a_foreground_job_and_resumes(
    client: Client, tmp_path: Path
) -> None:
    settings = pool_settings(tmp_path)
    scripts = {"bg": BACKGROUND, "fg": FOREGROUND}
    for name, text in scripts.items():
        (tmp_path / f"{name}.py").write_text(text)
    tag = uuid.uuid4().hex[:6]

    def job(name: str, priority: int) -> GpuJobRequest:
        return GpuJobRequest(
            job_id=f"{name}-{tag}",
            pool=settings.gpu.pool,
            argv=[sys.executable, str(tmp_path / f"{name}.py")],
            devices=["0"],
            priority=priority,
        )

    async with pool_workers(client, settings):
        queue = settings.queues.orchestrator
        bg = await client.start_workflow(
            GpuJobWorkflow.run, job("bg", 5), id=f"bg-{tag}", task_queue=queue
        )
        step = tmp_path / "data" / "gpu-jobs" / f"bg-{tag}" / "step"
        await until(lambda: _step(step) >= 5)
        fg = await client.start_workflow(
            GpuJobWorkflow.run, job("fg", 1), id=f"fg-{tag}", task_queue=queue
        )
        foreground: GpuJobResult = await fg.result()
        background: GpuJobResult = await bg.result()
        pool = await view(client, settings)
        coordinator = client.get_workflow_handle(settings.gpu.coordinator_id)
        histories = [await h.fetch_history() for h in (coordinator, bg)]
    for history in histories:  # today's code replays what it just did
        await replayer(client.data_converter).replay_workflow(history)

    assert foreground.exit_code == 0 and foreground.pauses == 0
    assert "foreground on GPU 0" in foreground.output_tail
    assert (background.exit_code, background.pauses, background.runs) == (0, 1, 2)
    resumed = [line for line in background.output_tail.splitlines() if "resumed at" in line]
    assert resumed[0].startswith("resumed at 0"), background.output_tail
    assert int(resumed[1].split()[2]) >= 5, background.output_tail
    assert "background done" in background.output_tail
    fg_end, bg_end = (await fg.describe()).close_time, (await bg.describe()).close_time
    assert fg_end is not None and bg_end is not None and fg_end < bg_end
    assert pool.preemptions == 1 and pool.grants == 3 and pool.revoked == 0
    assert not pool.leases and not pool.queued


def _step(path: Path) -> int:
    try:
        return int(path.read_text() or 0)
    except (OSError, ValueError):
        return 0


async def test_a_dead_holder_loses_its_lease_after_its_ttl(client: Client, tmp_path: Path) -> None:
    settings = pool_settings(tmp_path)
    holder = tmp_path / "holder.py"
    holder.write_text(HOLDER)
    address = client.service_client.config.target_host
    async with pool_workers(client, settings):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(holder), settings.gpu.pool, settings.queues.orchestrator,
            str(TTL), cwd=ROOT, stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "TEMPORAL_ADDRESS": address, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), 30)
            assert line.startswith(b"granted"), line
            waiter = lease_for(client, settings, "next")
            waiting = asyncio.create_task(waiter.acquire())
            await until(lambda: _queued(client, settings, "next"))
            health = GpuHealthReport(pool=settings.gpu.pool, host="node-1")
            handle = client.get_workflow_handle(settings.gpu.coordinator_id)
            await handle.signal(names.GPU_HEALTH_SIGNAL, health)
            before = await view(client, settings)
            proc.kill()  # no release: its renewals just stop
            killed = time.monotonic()
            granted = await asyncio.wait_for(waiting, TTL + 10)
            waited = time.monotonic() - killed
        finally:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()
        after = await view(client, settings)
        await waiter.release()

    assert [s.holder for s in before.leases] == ["doomed"]
    assert [s.holder for s in before.queued] == ["next"]
    assert "held by doomed" in before.queued[0].detail
    assert before.health is not None and before.health.host == "node-1"
    assert granted.status == "granted" and granted.fence == 2
    assert waited < TTL + 3, f"granted {waited:.1f}s after the holder died"
    assert (after.expired, after.grants) == (1, 2)
    assert [s.holder for s in after.leases] == ["next"]
    assert after.health == before.health


async def _queued(client: Client, settings: Settings, holder: str) -> bool:
    try:
        return holder in [s.holder for s in (await view(client, settings)).queued]
    except Exception:  # the coordinator is not there yet
        return False


async def test_leases_and_waiters_survive_continue_as_new(client: Client, tmp_path: Path) -> None:
    settings = pool_settings(tmp_path)
    async with pool_workers(client, settings):
        holder = lease_for(client, settings, "holder", max_events=60)
        await holder.acquire()
        handle = client.get_workflow_handle(settings.gpu.coordinator_id)
        first_run = (await handle.describe()).run_id
        async with holder:  # long-polls: the history grows past max_events
            waiter = lease_for(client, settings, "waiter", max_events=60)
            waiting = asyncio.create_task(waiter.acquire())
            await until(lambda: _new_run(handle, first_run), seconds=40)
            assert not waiting.done() and not holder.revoked.is_set()
            state = holder.state
        granted = await asyncio.wait_for(waiting, 10)
        pool = await view(client, settings)
        await waiter.release()
        first = await client.get_workflow_handle(handle.id, run_id=first_run).fetch_history()
    await replayer(client.data_converter).replay_workflow(first)  # the run that continued

    assert state is not None and state.status == "granted" and state.fence == 1
    assert granted.status == "granted" and granted.fence == 2
    assert pool.grants == 2 and pool.expired == 0


async def _new_run(handle: Any, first_run: str | None) -> bool:
    return bool((await handle.describe()).run_id != first_run)


async def test_a_bad_request_is_refused_not_retried(client: Client, tmp_path: Path) -> None:
    settings = pool_settings(tmp_path)
    async with pool_workers(client, settings):
        pool = settings.gpu.pool
        request = LeaseRequest(holder="bad", devices=["0"], ttl_seconds=1, wait_seconds=2)
        config = PoolConfig(pool=pool)
        lease = GpuLease(client, pool, request, settings.queues.orchestrator, config)
        with pytest.raises(LeaseRefused, match="below wait_seconds"):
            await asyncio.wait_for(lease.acquire(), 20)


async def test_the_cli_runs_a_job_and_shows_the_pool(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = pool_settings(tmp_path)
    monkeypatch.setenv("TEMPORAL_ADDRESS", client.service_client.config.target_host)
    monkeypatch.setenv("COLUMNS", "200")

    @click.group()
    @click.pass_context
    def gpus(ctx: click.Context) -> None:
        ctx.obj = {"settings": lambda: settings}

    gpus.add_command(run_command)
    gpus.add_command(leases_command)

    async def cli(*args: str) -> tuple[int, str]:
        """In a thread: this test's loop runs the workers that answer the CLI."""
        done = await asyncio.to_thread(CliRunner().invoke, gpus, list(args))
        return done.exit_code, done.output.strip()

    code, out = await cli("leases")
    assert code == 1 and "has no coordinator yet" in out, out
    async with pool_workers(client, settings):
        job = ["--gpu", "0", "--priority", "2", "--id", f"hi-{uuid.uuid4().hex[:6]}", "--"]
        code, out = await cli("run", *job, sys.executable, "-c", "print('hi from the job')")
        assert code == 0 and "exit 0, 1 run(s), 0 pause(s)" in out and "hi from the job" in out
        code, out = await cli("run", "--gpu", "0", "--", sys.executable, "-c", "exit(3)")
        assert code == 1 and "exited with 3" in out and "Traceback" not in out, out
        code, out = await cli("leases")
    assert code == 0 and "2 grant(s), 0 preemption(s)" in out, out
    assert "held: none" in out and "queued: none" in out and "health: no report" in out
