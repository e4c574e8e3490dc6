"""The engine supervisor: starts each local engine, waits for real readiness, restarts it
with backoff when it dies, and drains it on shutdown.

Readiness is an answer from the engine's `/v1/models` naming the served model, not a TCP
connect: a server still loading weights, or another server on the port, is not ready.
The worker polls an engine's task queue only while the engine is ready (``on_ready`` /
``on_down``), so no call is routed to a worker whose engine cannot answer. Each engine is a
child in its own process group with PR_SET_PDEATHSIG, so it dies with the worker even when
the worker is SIGKILLed; its output goes to ``<data_dir>/engines/<id>.log`` and its state
to ``<id>.json`` beside it (what `naestro engines` reads).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import httpx

from activities.routing.providers import serves_model
from naestro.config.settings import EngineConfig, Settings
from naestro.telemetry import catalogue, metrics
from workers.engines.launch import Launch, endpoint, launch, served_name

log = logging.getLogger(__name__)
State = Literal["stopped", "starting", "ready", "backoff", "draining", "failed"]
PROBE_EVERY_SECONDS = 0.5
TERM_GRACE_SECONDS = 10.0
_PR_SET_PDEATHSIG = 1

Hook = Callable[[str], Awaitable[None]]
ModelResolver = Callable[[EngineConfig], str]


@dataclass
class EngineStatus:
    id: str
    kind: str
    endpoint: str
    model: str
    state: State = "stopped"
    pid: int | None = None
    restarts: int = 0
    since: float = field(default_factory=time.time)
    detail: str = ""


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL when the parent (the worker) dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class EngineRunner:
    """One engine's life: start, readiness, restarts with backoff, drain."""

    def __init__(
        self,
        engine: EngineConfig,
        settings: Settings,
        state_dir: Path,
        resolve: ModelResolver,
        on_ready: Hook,
        on_down: Hook,
        devices: list[str] | None = None,
    ) -> None:
        self.engine = engine
        self.devices = devices  # placed GPUs (workers/gpu/placement.py), None: as declared
        self.provider = settings.provider(engine.id)
        self._dir = state_dir
        self._resolve = resolve
        self._on_ready, self._on_down = on_ready, on_down
        self._proc: asyncio.subprocess.Process | None = None
        self.status = EngineStatus(
            engine.id, engine.kind, endpoint(engine), served_name(self.provider)
        )

    def _set(self, state: State, detail: str = "") -> None:
        pid = self._proc.pid if self._proc and self._proc.returncode is None else None
        self.status.state, self.status.detail, self.status.pid = state, detail, pid
        self.status.since = time.time()
        log.info("engine %s: %s %s", self.engine.id, state, detail)
        path = self._dir / f"{self.engine.id}.json"
        path.write_text(json.dumps(asdict(self.status)) + "\n")

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the engine up until ``stop`` is set, then drain it and stop it."""
        backoff = self.engine.restart_backoff_seconds
        try:
            self._set("starting", "resolving the model")
            model = await asyncio.to_thread(self._resolve, self.engine)
            while not stop.is_set():
                served = await self._serve_once(
                    launch(self.engine, self.provider, model, self.devices), stop
                )
                if stop.is_set():
                    break
                backoff = self.engine.restart_backoff_seconds if served else backoff
                self.status.restarts += 1
                metrics.count(catalogue.ENGINE_RESTARTS, engine=self.engine.id)
                self._set("backoff", f"restart in {backoff:.0f}s")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff)
                backoff = min(backoff * 2, self.engine.max_restart_backoff_seconds)
        except Exception as exc:  # a model that cannot be resolved, a command not found
            # The rest of the worker goes on; this engine's queue is simply not polled.
            self._set("failed", str(exc))
            log.error("engine %s failed: %s", self.engine.id, exc)
        finally:
            await self._terminate()
            if self.status.state != "failed":
                self._set("stopped")

    async def _serve_once(self, how: Launch, stop: asyncio.Event) -> bool:
        """Start the process, wait until it is ready, serve until it exits or ``stop``.
        True when it had become ready (a crash after serving resets the backoff)."""
        self._proc = await self._spawn(how)
        self._set("starting", f"waiting for {self.status.endpoint}/models")
        if not await self._wait_ready(stop):
            return False
        self._set("ready")
        await self._on_ready(self.engine.id)
        exited = asyncio.ensure_future(self._proc.wait())
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait([exited, stopping], return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        self._set("draining" if stop.is_set() else "backoff", self._exit_detail())
        await self._on_down(self.engine.id)
        return True

    async def _spawn(self, how: Launch) -> asyncio.subprocess.Process:
        out = (self._dir / f"{self.engine.id}.log").open("ab")
        try:
            return await asyncio.create_subprocess_exec(
                *how.argv,
                env={**os.environ, **how.env},
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # its own group: a stop reaches its children too
                preexec_fn=_die_with_parent,
            )
        finally:
            out.close()

    async def _wait_ready(self, stop: asyncio.Event) -> bool:
        assert self._proc is not None
        deadline = time.monotonic() + self.engine.ready_timeout_seconds
        async with httpx.AsyncClient(timeout=2.0) as client:
            while not stop.is_set() and self._proc.returncode is None:
                if await serves_model(self.status.endpoint, self.status.model, client):
                    return True
                if time.monotonic() > deadline:
                    self._set("backoff", "not ready in time")
                    await self._terminate()
                    return False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), PROBE_EVERY_SECONDS)
        return False

    def _exit_detail(self) -> str:
        code = self._proc.returncode if self._proc else None
        return "" if code is None else f"exited with {code}"

    async def _terminate(self) -> None:
        """SIGTERM the engine's process group, SIGKILL it after a grace period."""
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), TERM_GRACE_SECONDS)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()


class Supervisor:
    """Every engine of ``settings.engines`` whose provider this process serves."""

    def __init__(
        self,
        settings: Settings,
        engine_ids: list[str],
        state_dir: Path,
        resolve: ModelResolver,
        on_ready: Hook,
        on_down: Hook,
        placements: dict[str, list[str]] | None = None,
    ) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        placed = placements or {}
        self.runners = [
            EngineRunner(e, settings, state_dir, resolve, on_ready, on_down, placed.get(e.id))
            for e in settings.engines
            if e.id in engine_ids
        ]

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.gather(*(r.run(stop) for r in self.runners))

    def statuses(self) -> list[EngineStatus]:
        return [r.status for r in self.runners]

    def pids(self) -> dict[int, str]:
        """Each running engine's process (its session's leader) -> engine id."""
        return {r.status.pid: r.engine.id for r in self.runners if r.status.pid}


def read_statuses(state_dir: Path) -> list[EngineStatus]:
    """The engines' last recorded states (for `naestro engines`)."""
    out = []
    for path in sorted(state_dir.glob("*.json")):
        with contextlib.suppress(ValueError, TypeError, OSError):
            out.append(EngineStatus(**json.loads(path.read_text())))
    return out
