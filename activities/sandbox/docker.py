"""DockerSandbox: run untrusted code's tests in a hardened, single-use container.

A run takes a started container from the warm pool (or starts one when its limits are not
the pool's), execs the in-sandbox runner in it (which unpacks the files from its stdin and
runs the command), runs ruff beside the tests in a second exec when the request asks for
lint, and kills the container, whatever happened. docker_engine.py holds the hardening
options and the blocking SDK calls.
"""

from __future__ import annotations

import asyncio
import logging

from activities.sandbox.commands import LINT_COMMAND, REPORT_NAME, WORKDIR, default_command
from activities.sandbox.docker_engine import (
    DEFAULT_IMAGE,
    RUNNER,
    DockerEngine,
    ExecResult,
    Warm,
    make_pool,
    run_in,
    tar_files,
)
from activities.sandbox.lint import lint_report
from activities.sandbox.paths import validate_paths
from activities.sandbox.pool import WarmPool
from activities.sandbox.report import build_report, resource_use
from naestro.contracts import SandboxLimits, VerificationReport, VerifyRequest

log = logging.getLogger(__name__)

LINT_DIR = "/tmp"  # ruff reads its own copy of the files, beside the tests' /work


class DockerSandbox:
    """The Sandbox protocol over Docker; see the module docstring."""

    name = "docker"

    def __init__(
        self,
        image: str = DEFAULT_IMAGE,
        *,
        pool_size: int = 8,
        limits: SandboxLimits | None = None,
        base_url: str | None = None,
    ) -> None:
        self._engine = DockerEngine(image, base_url)
        self._pool_limits = limits or SandboxLimits()
        self._pool_size = pool_size
        self._pool: WarmPool[Warm] | None = None

    @property
    def fingerprint(self) -> str:
        """The image's content id: part of the test cache key."""
        return self._engine.image_id

    @property
    def owner(self) -> str:
        """The label value this sandbox's containers carry (``naestro.sandbox=<owner>``)."""
        return self._engine.owner

    @property
    def pool(self) -> WarmPool[Warm]:
        # Built on first use, inside the event loop that will run its refills.
        if self._pool is None:
            self._pool = make_pool(self._engine, self._pool_limits, self._pool_size)
        return self._pool

    async def warm_up(self, count: int | None = None) -> None:
        """Until ``count`` (default: the pool size) containers are started and ready."""
        await self.pool.wait_ready(self._pool_size if count is None else count)

    async def _container(self, limits: SandboxLimits) -> Warm:
        if limits == self._pool_limits and self._pool_size > 0:
            return await self.pool.take()
        warm: Warm = await self._engine.call(self._engine.start, limits)
        return warm

    async def run(self, request: VerifyRequest) -> VerificationReport:
        files = validate_paths(request.files)
        command = default_command(request, "python3", files)
        payload = tar_files(files)
        limits = request.limits
        size = str(limits.output_bytes)
        runner = ["python3", "-S", RUNNER, "--unpack", "--limit", size]
        junit = ["--junit", f"{WORKDIR}/{REPORT_NAME}"] if request.framework == "pytest" else []
        warm = await self._container(limits)
        try:
            jobs = [run_in(self._engine, warm, [*runner, *junit, "--", *command], payload, limits)]
            if request.lint:
                lint = [*runner, "--", *LINT_COMMAND]
                jobs.append(run_in(self._engine, warm, lint, payload, limits, LINT_DIR))
            results = await asyncio.gather(*jobs)
        finally:
            await self._engine.call(self._engine.kill, warm)
        return self._report(request, results[0], results[1] if request.lint else None)

    def _report(
        self, request: VerifyRequest, tests: ExecResult, lint: ExecResult | None
    ) -> VerificationReport:
        junit = tests.usage.get("junit")
        report = build_report(
            backend=self.name,
            framework=request.framework,
            exit_code=tests.exit_code,
            timed_out=tests.timed_out,
            duration_s=tests.duration_s,
            wall_seconds=request.limits.wall_seconds,
            output=tests.output,
            output_total=max(tests.output_total, _int(tests.usage.get("output_total"))),
            junit=junit.encode("utf-8") if isinstance(junit, str) else None,
        )
        update: dict[str, object] = {"resources": resource_use(tests.usage)}
        if lint is not None:
            update["lint"] = lint_report(lint.exit_code, lint.output, lint.timed_out)
        log.info("sandbox run finished: %s", report.summary)
        return report.model_copy(update=update)

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
        self._engine.close()


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0
