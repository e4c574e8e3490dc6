"""Sandbox runs: files, limits, verification requests, reports and lint findings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from naestro.contracts.base import Frozen


class TestCaseResult(Frozen):
    name: str
    outcome: Literal["passed", "failed", "error", "skipped"]
    message: str = ""


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


class VerificationReport(Frozen):
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

    @property
    def failed_tests(self) -> list[TestCaseResult]:
        return [t for t in self.tests if t.outcome in ("failed", "error")]


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
    files: list[SandboxFile]
    framework: Literal["pytest", "unittest", "script"] = "pytest"
    command: list[str] | None = None  # overrides the framework's default command
    limits: SandboxLimits = SandboxLimits()
    lint: bool = False  # also run ruff over the files, in parallel with the tests
    use_cache: bool = True  # answer an identical earlier run from the test cache
    # None: the worker's configured backend; else this one ("auto": Docker when it answers)
    backend: Literal["auto", "bwrap", "docker"] | None = None


class VerifyJob(Frozen):
    """VerifyWorkflow's input: one request for the sandbox queue (``naestro eval``)."""

    request: VerifyRequest
    sandbox_task_queue: str = "naestro.sandbox"
