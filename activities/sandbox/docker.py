"""DockerSandbox: run untrusted code's tests in a hardened, single-use container.

A run takes a started container from the warm pool (or starts one when its limits are not
the pool's), execs the in-sandbox runner in it (which unpacks the files from its stdin and
runs the command), runs ruff beside the tests in a second exec when the request asks for
lint, and kills the container, whatever happened. docker_engine.py holds the hardening
options and the blocking SDK calls.

A workspace is unpacked on the host (workspace.py) and sent as the first exec's tar; its
suites (suites.py) are execs one after the other in the same container. Dependencies
from a wheel cache are the bubblewrap backend's: here they are reported as not installed.
The image has no node unless one adds it: JavaScript suites then fail with a SandboxError
that says so.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from pathlib import Path, PurePosixPath

from activities.sandbox import deps, suites, workspace
from activities.sandbox.commands import LINT_COMMAND, WORKDIR
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
from naestro.contracts import LintReport, SandboxLimits, VerificationReport, VerifyRequest
from naestro.errors import SandboxError

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
        caps: workspace.Caps | None = None,
    ) -> None:
        self._engine = DockerEngine(image, base_url)
        self._caps = caps or workspace.Caps()
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

    async def run(
        self, request: VerifyRequest, workspace: bytes | None = None
    ) -> VerificationReport:
        files = validate_paths(request.files)
        spec = request.workspace
        if spec is not None and spec.dependencies:
            deps.requirement_names(spec.dependencies)  # WorkspaceError for one that is not plain
            why = (
                "the Docker sandbox installs no dependencies (bubblewrap does, from a wheel cache)"
            )
            return deps.missing_report(self.name, spec.dependencies, why)
        tree: list[PurePosixPath] = []
        if spec is None:
            payload = tar_files(files)
        elif workspace is None:
            raise SandboxError("a workspace request needs the archive's bytes")
        else:
            payload, tree = await asyncio.to_thread(self._tree, request, workspace, files)
        plan = suites.plan(request, files, "python3", tree)
        warm = await self._container(request.limits)
        try:
            tests = self._suites(warm, request, plan, payload)
            if not request.lint:
                report = suites.combine(self.name, plan, await tests)
            else:
                reports, lint = await asyncio.gather(
                    tests, self._lint(warm, request, files, payload)
                )
                report = suites.combine(self.name, plan, reports).model_copy(update={"lint": lint})
        finally:
            await self._engine.call(self._engine.kill, warm)
        log.info("sandbox run finished: %s", report.summary)
        return report

    def _tree(
        self, request: VerifyRequest, archive: bytes, files: list[tuple[PurePosixPath, str]]
    ) -> tuple[bytes, list[PurePosixPath]]:
        """The workspace with the model's files over it, unpacked and checked on the host,
        as the tar the runner unpacks in the container; and its files when planning needs
        them."""
        assert request.workspace is not None
        scratch = Path(tempfile.mkdtemp(prefix="naestro-docker-"))
        try:
            root = scratch / "work"
            root.mkdir()
            workspace.unpack(archive, request.workspace.format, root, self._caps)
            workspace.write_files(root, files)
            tree = suites.tree_files(root) if suites.needs_tree(request) else []
            return workspace.tar_tree(root), tree
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    async def _suites(
        self, warm: Warm, request: VerifyRequest, plan: suites.Plan, payload: bytes
    ) -> list[VerificationReport]:
        limits = request.limits
        reports: list[VerificationReport] = []
        for index, suite in enumerate(plan.suites):  # the first exec unpacks the files
            if reports and reports[-1].timed_out:  # the container went with that one
                reports.append(_not_run(self.name))
                continue
            runner = ["python3", "-S", RUNNER, *(["--unpack"] if index == 0 else [])]
            runner += ["--limit", str(limits.output_bytes)]
            runner += ["--junit", f"{WORKDIR}/{suite.junit}"] if suite.junit else []
            sent = payload if index == 0 else b""
            result = await run_in(self._engine, warm, [*runner, "--", *suite.command], sent, limits)
            reports.append(self._report(request, suite, result))
        return reports

    async def _lint(
        self,
        warm: Warm,
        request: VerifyRequest,
        files: list[tuple[PurePosixPath, str]],
        payload: bytes,
    ) -> LintReport:
        targets = ["."]
        if request.workspace is not None:  # the model's Python files, not the user's code
            targets = [str(path) for path, _ in files if path.suffix == ".py"]
            if not targets:
                return LintReport(passed=True, exit_code=0, summary="ruff: no Python files")
        limits = request.limits
        runner = ["python3", "-S", RUNNER, "--unpack", "--limit", str(limits.output_bytes)]
        lint = [*runner, "--", *LINT_COMMAND[:-1], *targets]
        result = await run_in(self._engine, warm, lint, payload, limits, LINT_DIR)
        return lint_report(result.exit_code, result.output, result.timed_out)

    def _report(
        self, request: VerifyRequest, suite: suites.Suite, tests: ExecResult
    ) -> VerificationReport:
        junit = tests.usage.get("junit")
        suites.missing_runtime(suite, tests.exit_code, tests.output)
        report = build_report(
            backend=self.name,
            framework=suite.framework,
            exit_code=tests.exit_code,
            timed_out=tests.timed_out,
            duration_s=tests.duration_s,
            wall_seconds=request.limits.wall_seconds,
            output=tests.output,
            output_total=max(tests.output_total, _int(tests.usage.get("output_total"))),
            junit=junit.encode("utf-8") if isinstance(junit, str) else None,
        )
        return report.model_copy(update={"resources": resource_use(tests.usage)})

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
        self._engine.close()


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0


def _not_run(backend: str) -> VerificationReport:
    return VerificationReport(
        backend=backend,
        passed=False,
        exit_code=None,
        summary="not run: an earlier suite timed out and its container was killed",
    )
