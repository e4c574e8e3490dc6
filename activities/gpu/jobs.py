"""GPU jobs: a command run on a pool's GPUs under a lease (workflows/gpu_job.py starts one).

The job runs as a child of the worker, in its own session and with ``PR_SET_PDEATHSIG``
(it dies with the worker, even on SIGKILL), with:

* ``CUDA_VISIBLE_DEVICES`` = its devices joined by ",";
* ``NAESTRO_CHECKPOINT_DIR`` = ``<data_dir>/gpu-jobs/<job_id>``, kept across pauses and
  activity retries (its output goes to ``output.log`` there);
* ``NAESTRO_GPU_LEASE`` = the lease's fence (grows with every grant: a job that writes to
  shared storage can refuse a writer holding an older one).

The preemption contract: when higher-priority work needs its GPUs, the job gets SIGTERM. It
checkpoints into ``NAESTRO_CHECKPOINT_DIR`` and exits with 75 (EX_TEMPFAIL): "paused". The
activity releases the lease, queues again with the same priority, and starts the command
again when granted; the command resumes from its checkpoint. A job still running when its
lease is revoked (``gpu.preempt_grace_seconds`` after the SIGTERM) is SIGKILLed and started
again the same way, from whatever checkpoint it had. Exit 0 is done; 75 when nobody asked
is a retryable failure; any other code is a non-retryable failure naming the code and the
end of the output. The worker's secrets (codec keys, API keys, tokens, passwords) are not
passed to the job; ``GpuJobRequest.env`` adds variables.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import time
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.gpu.lease import GpuLease, LeaseRefused, lease_for
from naestro.codec import KEYS_ENV
from naestro.config.settings import Settings
from naestro.contracts.gpu import GpuJobRequest, GpuJobResult
from naestro.telemetry import catalogue, metrics

EX_TEMPFAIL = 75
TAIL_CHARS = 2000
POLL_SECONDS = 0.2  # how soon a preemption reaches the job
_PR_SET_PDEATHSIG = 1
_SECRET_WORDS = ("KEY", "SECRET", "TOKEN", "PASSWORD", "CREDENTIAL")


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL when the parent (the worker) dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class GpuJobActivities:
    def __init__(self, client: Client, settings: Settings) -> None:
        self._client = client
        self._settings = settings
        self._jobs_dir = Path(settings.dev.data_dir).resolve() / "gpu-jobs"

    @activity.defn(name="naestro.gpu.run_job")
    async def run_job(self, request: GpuJobRequest) -> GpuJobResult:
        return await _Job(self, request).run()

    def lease(self, request: GpuJobRequest, holder: str) -> GpuLease:
        purpose = request.purpose or f"job {request.job_id}"
        return lease_for(
            self._client,
            self._settings,
            holder,
            request.devices,
            request.priority,
            purpose,
            pool=request.pool,
        )

    def checkpoint_dir(self, job_id: str) -> Path:
        return self._jobs_dir / job_id

    def job_env(self, request: GpuJobRequest, folder: Path, fence: int) -> dict[str, str]:
        hidden = {KEYS_ENV, "DATABASE_URL", self._settings.memory.database_url_env}
        hidden |= {p.api_key_env for p in self._settings.providers if p.api_key_env}
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in hidden and not any(word in k.upper() for word in _SECRET_WORDS)
        }
        return {
            **env,
            **request.env,
            "CUDA_VISIBLE_DEVICES": ",".join(request.devices),
            "NAESTRO_CHECKPOINT_DIR": str(folder),
            "NAESTRO_GPU_LEASE": str(fence),
        }


class _Job:
    """One activity attempt of a job: lease, run, pause and resume, until done."""

    def __init__(self, owner: GpuJobActivities, request: GpuJobRequest) -> None:
        self.owner, self.request = owner, request
        self.folder = owner.checkpoint_dir(request.job_id)
        self.log = self.folder / "output.log"
        done: dict[str, Any] = _progress(activity.info().heartbeat_details)
        self.runs, self.pauses = int(done.get("runs", 0)), int(done.get("pauses", 0))

    async def run(self) -> GpuJobResult:
        self.folder.mkdir(parents=True, exist_ok=True)
        while True:
            lease = self.owner.lease(self.request, self._holder())
            await self._acquire(lease)
            async with lease:
                self.runs += 1
                code, asked = await self._run_once(lease)
            if code == 0:
                return self._result(code)
            if not asked:
                raise self._failure(code)
            self.pauses += 1
            metrics.count(catalogue.GPU_PREEMPTIONS, 1.0, pool=self.request.pool)
            activity.logger.info("GPU job %s paused (exit %s)", self.request.job_id, code)

    async def _acquire(self, lease: GpuLease) -> None:
        started = time.monotonic()
        try:
            await lease.acquire(on_wait=lambda _state: self._beat("waiting"))
        except LeaseRefused as exc:
            raise ApplicationError(str(exc), type="GpuLeaseRefused", non_retryable=True) from None
        metrics.observe(
            catalogue.GPU_LEASE_WAIT,
            time.monotonic() - started,
            pool=self.request.pool,
            priority=str(self.request.priority),
        )

    async def _run_once(self, lease: GpuLease) -> tuple[int, bool]:
        """Run the command until it exits: its exit code, and whether it was asked to stop
        (SIGTERM on preemption, SIGKILL once the lease is gone)."""
        env = self.owner.job_env(self.request, self.folder, lease.fence)
        with self.log.open("ab") as out:
            out.write(f"--- run {self.runs} (lease {lease.fence})\n".encode())
            out.flush()
            proc = await asyncio.create_subprocess_exec(
                *self.request.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        exited = asyncio.ensure_future(proc.wait())
        asked = False
        try:
            while not exited.done():
                await asyncio.wait({exited}, timeout=POLL_SECONDS)
                self._beat("running")
                if lease.revoked.is_set():
                    _signal(proc.pid, signal.SIGKILL)
                    asked = True
                elif lease.preempted.is_set() and not asked:
                    _signal(proc.pid, signal.SIGTERM)
                    asked = True
            return exited.result(), asked
        finally:
            _signal(proc.pid, signal.SIGKILL)  # cancelled, or leftovers of its session
            if not exited.done():
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.shield(exited)

    def _beat(self, phase: str) -> None:
        activity.heartbeat({"runs": self.runs, "pauses": self.pauses, "phase": phase})

    def _holder(self) -> str:
        info = activity.info()
        return f"job:{self.request.job_id}:{info.workflow_run_id}:{info.attempt}:{self.runs + 1}"

    def _tail(self) -> str:
        try:
            with self.log.open("rb") as f:
                f.seek(max(f.seek(0, os.SEEK_END) - 4 * TAIL_CHARS, 0))
                return f.read().decode("utf-8", errors="replace")[-TAIL_CHARS:]
        except OSError:
            return ""

    def _result(self, code: int) -> GpuJobResult:
        return GpuJobResult(
            job_id=self.request.job_id,
            exit_code=code,
            pauses=self.pauses,
            runs=self.runs,
            output_tail=self._tail(),
        )

    def _failure(self, code: int) -> ApplicationError:
        tail = self._tail()
        job = self.request.job_id
        if code == EX_TEMPFAIL:  # paused when nobody asked: a transient failure of its own
            return ApplicationError(
                f"GPU job {job} exited 75 (paused) unasked; output ends: {tail[-500:]}",
                {"exit_code": code, "output_tail": tail},
                type="GpuJobPaused",
            )
        return ApplicationError(
            f"GPU job {job} exited with {code}; output ends: {tail[-500:]}",
            {"exit_code": code, "output_tail": tail},
            type="GpuJobFailed",
            non_retryable=True,
        )


def _progress(details: Any) -> dict[str, Any]:
    """The counts a previous attempt heartbeated (runs, pauses), if any."""
    if details and isinstance(details[0], dict):
        return details[0]
    return {}


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
