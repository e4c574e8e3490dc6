"""Sandbox runs: files, limits, verification requests, reports and lint findings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from naestro.contracts.base import Frozen
from naestro.contracts.verify import WorkspaceSpec

Framework = Literal["pytest", "unittest", "script", "node"]


class TestCaseResult(Frozen):
    name: str
    outcome: Literal["passed", "failed", "error", "skipped"]
    message: str = ""
    suite: str = ""  # the SuiteReport it belongs to ("user" / "model"); "" in older reports


class LintFinding(Frozen):
    code: str
    message: str
    path: str = ""
    line: int = 0


class LintReport(Frozen):
    passed: bool
    exit_code: int | None
    findings: list[LintFinding] = []
    summary: str = ""


class ResourceUse(Frozen):
    """What the command used, as the in-sandbox runner measured it (its waited-for children
    included): peak resident set and CPU time."""

    max_rss_kb: int = 0
    cpu_seconds: float = 0.0


class SuiteReport(Frozen):
    """One test suite of a run: the user's own tests (``user``, from the workspace) or the
    model's (``model``). Its test cases are the report's ``tests`` with this ``suite``."""

    name: str  # "user" | "model"
    passed: bool
    exit_code: int | None  # None: not run (timed out, or the model wrote no tests)
    timed_out: bool = False
    duration_ms: float = 0.0
    test_count: int = 0
    failed_count: int = 0  # failed or errored
    summary: str = ""
    command: list[str] = []  # as run inside the sandbox ([] when not run)


class VerificationReport(Frozen):
    """A run's outcome. With several suites (a workspace's and the model's), the top-level
    fields sum them up: ``passed`` only when every suite passed, ``exit_code`` the first
    failing suite's, ``tests`` all of them (each labelled with its suite), ``output`` each
    suite's under a header; ``suites`` has one entry per suite."""

    backend: str
    passed: bool
    exit_code: int | None
    timed_out: bool = False
    duration_ms: float = 0.0
    tests: list[TestCaseResult] = []
    output: str = ""
    output_truncated: bool = False
    summary: str = ""
    lint: LintReport | None = None  # ruff's findings when the request asked for lint
    resources: ResourceUse | None = None
    cached: bool = False  # an identical earlier run's report, from the test cache
    cache_key: str = ""  # sha256 of code + tests + command + limits + sandbox image
    suites: list[SuiteReport] = []  # "user" then "model"; one ("model") without a workspace
    # The workspace's dependencies that the worker's wheel cache could not provide (the run
    # stopped before any test; the summary names them)
    missing_dependencies: list[str] = []

    @property
    def failed_tests(self) -> list[TestCaseResult]:
        return [t for t in self.tests if t.outcome in ("failed", "error")]

    def suite(self, name: str) -> SuiteReport | None:
        return next((s for s in self.suites if s.name == name), None)

    def tests_of(self, suite: str) -> list[TestCaseResult]:
        return [t for t in self.tests if t.suite == suite]


class SandboxFile(Frozen):
    path: str = Field(min_length=1, max_length=255)
    content: str


class SandboxLimits(Frozen):
    cpu_seconds: int = Field(default=30, ge=1)
    memory_mb: int = Field(default=512, ge=16)
    processes: int = Field(default=64, ge=1)
    wall_seconds: float = Field(default=60.0, gt=0)
    output_bytes: int = Field(default=64_000, ge=1024)
    file_size_mb: int = Field(default=64, ge=1)


class VerifyRequest(Frozen):
    """What to run. Without ``workspace``: the model's ``files`` alone, with the framework's
    runner (or ``command``). With one, the run is the user's code base plus the model's
    work, two suites reported apart (``VerificationReport.suites``)."""

    files: list[SandboxFile]  # the model's files (with a workspace: written over it)
    # How the model's tests run: pytest (JUnit), unittest -v, a script, or Node's built-in
    # runner (``node --test``, JUnit). With a javascript workspace, "pytest" means "node".
    framework: Framework = "pytest"
    command: list[str] | None = None  # overrides the framework's default command
    limits: SandboxLimits = SandboxLimits()
    lint: bool = False  # also run ruff over the files, in parallel with the tests
    use_cache: bool = True  # answer an identical earlier run from the test cache
    # None: the worker's configured backend; else this one ("auto": Docker when it answers)
    backend: Literal["auto", "bwrap", "docker"] | None = None
    # The user's code base, by reference (``WorkspaceSpec.archive``: a BlobRef from
    # ``naestro.blobs.BlobStore.put``; the sandbox worker fetches the bytes itself, they
    # never enter history). It is unpacked safely into the work dir, the model's ``files``
    # are written over it, its ``dependencies`` are installed from the worker's wheel cache
    # (``sandbox.wheel_cache``), then two suites run, each within ``limits``: the user's
    # tests (``user_command``) and the model's tests among ``files`` (skipped when there
    # are none). Pass ``VerifySpec.workspace`` through as is. Give the activity time for
    # both suites (2 x ``limits.wall_seconds``) and a first install (up to 5 minutes). An
    # unusable workspace (unsafe archive, missing blob) fails it with the non-retryable
    # ``WorkspaceError``; a dependency the cache lacks is a report (missing_dependencies).
    workspace: WorkspaceSpec | None = None
    # The user's test command, run from the workspace root; None: the workspace's
    # ``test_command``, else its language's runner (pytest, or ``node --test``)
    user_command: list[str] | None = Field(default=None, max_length=64)


class VerifyJob(Frozen):
    """VerifyWorkflow's input: one request for the sandbox queue (``naestro eval``)."""

    request: VerifyRequest
    sandbox_task_queue: str = "naestro.sandbox"
