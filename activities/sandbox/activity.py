"""The sandbox activity: run a VerifyRequest in the worker's Sandbox, heartbeating.

Identical requests are answered from the test cache (cache.py) without running anything.
A request naming another backend than the worker's gets it from ``factory``, made once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from temporalio import activity

from activities.sandbox.base import Sandbox
from activities.sandbox.cache import ReportCache, cache_key
from naestro.contracts import VerificationReport, VerifyRequest
from naestro.errors import SandboxError, to_application_error
from naestro.telemetry import catalogue, metrics

HEARTBEAT_EVERY_S = 5.0


class SandboxActivities:
    def __init__(
        self,
        sandbox: Sandbox,
        heartbeat_every_s: float = HEARTBEAT_EVERY_S,
        cache: ReportCache | None = None,
        factory: Callable[[str], Sandbox] | None = None,
    ) -> None:
        self._sandbox = sandbox
        self._heartbeat_every_s = heartbeat_every_s
        self._cache = cache if cache is not None else ReportCache()
        self._factory = factory
        self._others: dict[str, Sandbox] = {}
        self._making = asyncio.Lock()

    @property
    def sandbox(self) -> Sandbox:
        return self._sandbox

    @activity.defn(name="naestro.sandbox.verify")
    async def verify(self, request: VerifyRequest) -> VerificationReport:
        """Run the request's tests; failing tests are a report, a broken sandbox an error."""
        try:
            sandbox = await self._pick(request.backend)
            key = cache_key(request, sandbox.name, sandbox.fingerprint)
            if request.use_cache and (hit := self._cache.get(key)):
                return hit
            started = time.monotonic()
            report = await self._run(sandbox, request)
        except SandboxError as exc:
            metrics.count(catalogue.SANDBOX_RUNS, backend=request.backend or "", outcome="error")
            raise to_application_error(exc) from exc
        seconds = time.monotonic() - started
        metrics.count(catalogue.SANDBOX_RUNS, backend=sandbox.name, outcome=_outcome(report))
        metrics.observe(catalogue.SANDBOX_SECONDS, seconds, backend=sandbox.name)
        report = report.model_copy(update={"cache_key": key})
        self._cache.put(key, report)
        return report

    async def _pick(self, backend: str | None) -> Sandbox:
        if backend is None or backend == self._sandbox.name:
            return self._sandbox
        if self._factory is None:
            raise SandboxError(f"this worker runs the {self._sandbox.name} sandbox only")
        async with self._making:
            if backend not in self._others:
                # Docker's engine check blocks: keep it off the event loop.
                self._others[backend] = await asyncio.to_thread(self._factory, backend)
        return self._others[backend]

    async def _run(self, sandbox: Sandbox, request: VerifyRequest) -> VerificationReport:
        run = asyncio.create_task(sandbox.run(request))
        try:
            # Heartbeats carry Temporal's cancellation to us; heartbeat() is a no-op cost
            # when the caller set no heartbeat timeout.
            while not (await asyncio.wait({run}, timeout=self._heartbeat_every_s))[0]:
                activity.heartbeat()
            return run.result()
        finally:
            if not run.done():
                # Cancelled: the sandbox kills its process tree (or container) as its run
                # unwinds; wait for that, so nothing sandboxed outlives the activity.
                run.cancel()
                await asyncio.wait({run})

    async def aclose(self) -> None:
        for sandbox in [self._sandbox, *self._others.values()]:
            await sandbox.aclose()


def _outcome(report: VerificationReport) -> str:
    if report.timed_out:
        return "timeout"
    return "passed" if report.passed else "failed"
