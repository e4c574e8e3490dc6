"""The verification job: lint beside the tests, resource use, seccomp, the test cache."""

from __future__ import annotations

import pytest
from temporalio.testing import ActivityEnvironment

from activities.sandbox import Sandbox, SandboxActivities
from activities.sandbox.docker import DockerSandbox
from activities.sandbox.docker_engine import run_in
from naestro.contracts import SandboxFile, SandboxLimits, VerifyRequest
from naestro.errors import SandboxError
from tests.sandbox.conftest import FAST, script, token

pytestmark = pytest.mark.timeout(60)

CODE = "import os\n\n\ndef add(a, b):\n    return a + b\n"
TESTS = "from calc import add\n\n\ndef test_add():\n    assert add(2, 2) == 4\n"
SECCOMP = """
import ctypes
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
print("SECCOMP", status["Seccomp"].strip())
libc = ctypes.CDLL(None, use_errno=True)
print("KEYCTL", libc.syscall(250, 0, 0, 0, 0, 0), ctypes.get_errno())  # keyctl on x86-64
"""


def _request(*, lint: bool = False) -> VerifyRequest:
    files = [
        SandboxFile(path="calc.py", content=CODE),
        SandboxFile(path="test_calc.py", content=TESTS + f"# {token()}\n"),
    ]
    return VerifyRequest(files=files, limits=FAST, lint=lint)


async def test_lint_runs_beside_the_tests(sandbox: Sandbox) -> None:
    report = await sandbox.run(_request(lint=True))
    assert report.passed, report.output  # lint findings do not fail the tests
    assert report.lint is not None and not report.lint.passed
    assert [(f.code, f.path, f.line) for f in report.lint.findings] == [("F401", "calc.py", 1)]
    assert report.lint.summary == "ruff: 1 finding"


async def test_resource_use_is_reported(sandbox: Sandbox) -> None:
    code = "import sys\nblock = bytearray(64 * 1024 * 1024)\nsum(range(3_000_000))\n"
    report = await sandbox.run(script(code, token()))
    assert report.passed and report.resources is not None, report.output
    assert report.resources.max_rss_kb > 64 * 1024
    assert 0 < report.resources.cpu_seconds < 10


async def test_seccomp_filter_is_active(sandbox: Sandbox) -> None:
    report = await sandbox.run(script(SECCOMP, token()))
    assert "SECCOMP 2" in report.output, report.output  # 2: a filter is installed
    assert "KEYCTL -1 1" in report.output  # EPERM: keyrings are off limits


async def test_identical_run_comes_from_the_cache(sandbox: Sandbox) -> None:
    activities = SandboxActivities(sandbox)
    env = ActivityEnvironment()
    request = _request()
    first = await env.run(activities.verify, request)
    again = await env.run(activities.verify, request)
    assert first.passed and not first.cached
    assert again.cached and again.cache_key == first.cache_key != ""
    assert again.model_copy(update={"cached": False}) == first
    other = await env.run(activities.verify, request.model_copy(update={"lint": True}))
    assert not other.cached and other.cache_key != first.cache_key
    fresh = await env.run(activities.verify, request.model_copy(update={"use_cache": False}))
    assert not fresh.cached


async def test_timed_out_runs_are_not_cached(sandbox: Sandbox) -> None:
    activities = SandboxActivities(sandbox)
    request = script("while True:\n    pass\n", token(), wall_seconds=1)
    first = await ActivityEnvironment().run(activities.verify, request)
    again = await ActivityEnvironment().run(activities.verify, request)
    assert first.timed_out and again.timed_out and not again.cached


async def test_sigkilled_runs_are_not_cached(sandbox: Sandbox) -> None:
    """A kill may be the machine's doing (a container killed mid-run): a retry of the same
    files runs them again rather than getting that failure back."""
    activities = SandboxActivities(sandbox)
    request = script("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n", token())
    first = await ActivityEnvironment().run(activities.verify, request)
    again = await ActivityEnvironment().run(activities.verify, request)
    assert not first.passed and first.exit_code in (137, -9), first
    assert not again.cached


async def test_a_container_gone_before_its_run_is_the_sandboxs_failure(
    docker_sandbox: DockerSandbox,
) -> None:
    """A pooled container killed from outside (removed before the exec) is a SandboxError,
    which Temporal retries, not a Docker NotFound failing the task's verification."""
    engine = docker_sandbox._engine
    warm = await engine.call(engine.start, SandboxLimits())
    await engine.call(warm.container.kill)  # not through engine.kill: from outside
    with pytest.raises(SandboxError, match="container"):
        await run_in(engine, warm, ["true"], b"", SandboxLimits())
