"""The sandbox activity: run a VerifyRequest in the worker's Sandbox, heartbeating.

Identical requests are answered from the test cache (cache.py) without running anything.
A request naming another backend than the worker's gets it from ``factory``, made once.
A request with a workspace gets its archive from ``blobs`` (the blob store, which the
sandbox worker reaches through the memory database): only the reference travels through
Temporal, the bytes stay in the worker.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from temporalio import activity

from activities.sandbox.base import Sandbox
from activities.sandbox.cache import ReportCache, cache_key
from naestro.contracts import VerificationReport, VerifyRequest
from naestro.contracts.blobs import BlobRef
from naestro.errors import NaestroError, SandboxError, WorkspaceError, to_application_error
from naestro.telemetry import catalogue, metrics

HEARTBEAT_EVERY_S = 5.0
# The blob store's read: the bytes of a reference (naestro.blobs.BlobStore.get, bound).
BlobGetter = Callable[[BlobRef], Awaitable[bytes]]


class SandboxActivities:
    def __init__(
        self,
        sandbox: Sandbox,
        heartbeat_every_s: float = HEARTBEAT_EVERY_S,
        cache: ReportCache | None = None,
        factory: Callable[[str], Sandbox] | None = None,
        blobs: BlobGetter | None = None,
    ) -> None:
        self._sandbox = sandbox
        self._blobs = blobs
        self._heartbeat_every_s = heartbeat_every_s
        self._cache = cache if cache is not None else ReportCache()
        self._factory = factory
        self._others: dict[str, Sandbox] = {}
        self._making = asyncio.Lock()

    @property
    def sandbox(self) -> Sandbox:
        return self._sandbox

    def attach_blobs(self, blobs: BlobGetter) -> None:
        """Where workspace archives come from, when the constructor was not told."""
        if self._blobs is None:
            self._blobs = blobs

    @activity.defn(name="naestro.sandbox.verify")
    async def verify(self, request: VerifyRequest) -> VerificationReport:
        """Run the request's tests; failing tests are a report, a broken sandbox an error."""
        try:
            sandbox = await self._pick(request.backend)
            key = cache_key(request, sandbox.name, sandbox.fingerprint)
            if request.use_cache and (hit := self._cache.get(key)):
                return hit
            archive = await self._archive(request)
            started = time.monotonic()
            report = await self._run(sandbox, request, archive)
        except (SandboxError, WorkspaceError) as exc:
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

    async def _archive(self, request: VerifyRequest) -> bytes | None:
        if request.workspace is None:
            return None
        if self._blobs is None:
            raise SandboxError("this sandbox worker has no blob store to fetch workspaces from")
        ref = request.workspace.archive
        try:
            data = await self._blobs(ref)
        except WorkspaceError:
            raise
        except NaestroError as exc:  # no database configured: another worker may have one
            raise SandboxError(f"could not fetch the workspace: {exc}") from exc
        if len(data) != ref.size:
            raise WorkspaceError(f"workspace blob {ref.sha256[:12]}… is not {ref.size} bytes")
        return data

    async def _run(
        self, sandbox: Sandbox, request: VerifyRequest, archive: bytes | None
    ) -> VerificationReport:
        run = asyncio.create_task(sandbox.run(request, archive))
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
