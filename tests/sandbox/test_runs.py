"""The frameworks a VerifyRequest names, their reports, and requests the sandbox refuses."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest

from activities.sandbox import BwrapSandbox, make_sandbox
from naestro.contracts import SandboxFile, VerifyRequest
from naestro.errors import SandboxError
from naestro.settings import SandboxConfig
from tests.sandbox.conftest import FAST, NOBODY, needs_root, script, token

pytestmark = pytest.mark.timeout(30)

PASSING = """
from pkg.calc import add

def test_add():
    assert add(1, 2) == 3

def test_add_negative():
    assert add(-1, -2) == -3
"""
FAILING = """
def test_good():
    assert True

def test_bad():
    assert 1 + 1 == 3, "arithmetic is broken"
"""
UNITTEST = """
import unittest

class CalcTest(unittest.TestCase):
    def test_ok(self):
        self.assertEqual(2, 1 + 1)

    def test_wrong(self):
        self.assertEqual(3, 1 + 1)

    @unittest.skip("not today")
    def test_later(self):
        pass
"""


def _scratch_dirs() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("naestro-bwrap-*"))


async def test_passing_pytest_suite(sandbox: BwrapSandbox) -> None:
    before = _scratch_dirs()
    request = VerifyRequest(
        files=[
            SandboxFile(path="pkg/__init__.py", content=""),
            SandboxFile(path="pkg/calc.py", content="def add(a, b):\n    return a + b\n"),
            SandboxFile(path="tests/test_calc.py", content=PASSING),
        ],
        limits=FAST,
    )
    report = await sandbox.run(request)
    assert report.passed, report.output
    assert report.backend == "bwrap" and report.exit_code == 0
    assert {(t.name, t.outcome) for t in report.tests} == {
        ("tests.test_calc.test_add", "passed"),
        ("tests.test_calc.test_add_negative", "passed"),
    }
    assert report.summary.startswith("2 passed in ")
    assert _scratch_dirs() == before  # the private work dir is gone


async def test_failing_test_is_named(sandbox: BwrapSandbox) -> None:
    request = VerifyRequest(files=[SandboxFile(path="test_math.py", content=FAILING)])
    report = await sandbox.run(request)
    assert not report.passed and report.exit_code == 1
    assert [t.name for t in report.failed_tests] == ["test_math.test_bad"]
    assert "arithmetic is broken" in report.failed_tests[0].message
    assert report.summary.startswith("1 passed, 1 failed in ")


async def test_unittest_framework(sandbox: BwrapSandbox) -> None:
    request = VerifyRequest(
        files=[SandboxFile(path="test_calc.py", content=UNITTEST)], framework="unittest"
    )
    report = await sandbox.run(request)
    assert not report.passed
    outcomes = {t.name: (t.outcome, t.message) for t in report.tests}
    assert outcomes == {
        "test_calc.CalcTest.test_ok": ("passed", ""),
        "test_calc.CalcTest.test_wrong": ("failed", "AssertionError: 3 != 2"),
        "test_calc.CalcTest.test_later": ("skipped", "not today"),
    }
    assert report.summary.startswith("1 passed, 1 failed, 1 skipped in ")


@needs_root()
async def test_script_runs_as_the_sandbox_user(sandbox: BwrapSandbox) -> None:
    code = "import os\nprint('IDS', os.getuid(), os.getgid(), os.getgroups())\n"
    report = await sandbox.run(script(code, token()))
    assert report.passed, report.output
    assert f"IDS {NOBODY} {NOBODY} []" in report.output


async def test_script_exit_code_is_reported(sandbox: BwrapSandbox) -> None:
    request = VerifyRequest(
        files=[SandboxFile(path="main.py", content="import sys\nsys.exit(3)\n")],
        framework="script",
    )
    report = await sandbox.run(request)
    assert not report.passed and report.exit_code == 3
    assert report.summary.startswith("exit code 3 in ")


async def test_runs_in_parallel_stay_apart(sandbox: BwrapSandbox) -> None:
    # Each run writes the same file name in its own /work and must read back its own value.
    code = "import sys, time\nopen('mine', 'w').write(sys.argv[2])\ntime.sleep(0.2)\n"
    code += "print('MINE', open('mine').read())\n"
    reports = await asyncio.gather(*(sandbox.run(script(code, token(), str(n))) for n in range(4)))
    assert [r.passed for r in reports] == [True] * 4
    assert [f"MINE {n}" in r.output for n, r in enumerate(reports)] == [True] * 4


async def test_pytest_without_tests_does_not_pass(sandbox: BwrapSandbox) -> None:
    request = VerifyRequest(files=[SandboxFile(path="util.py", content="x = 1\n")])
    report = await sandbox.run(request)
    assert not report.passed and report.exit_code == 5
    assert report.summary.startswith("exit code 5 (no tests collected) in ")


@pytest.mark.parametrize(
    "path", ["../escape.py", "/etc/cron.d/evil", "pkg/../../escape.py", "..", "a\0b.py"]
)
async def test_path_traversal_is_rejected(sandbox: BwrapSandbox, path: str) -> None:
    request = VerifyRequest(files=[SandboxFile(path=path, content="x = 1\n")])
    with pytest.raises(SandboxError) as caught:
        await sandbox.run(request)
    assert repr(path) in str(caught.value)


def test_make_sandbox_picks_bwrap(sandbox: BwrapSandbox) -> None:
    for backend in ("auto", "bwrap"):
        made = make_sandbox(SandboxConfig(backend=backend))
        assert isinstance(made, BwrapSandbox) and made.name == "bwrap"


def test_make_sandbox_refuses_docker_for_now() -> None:
    with pytest.raises(SandboxError, match="docker sandbox backend is not available yet"):
        make_sandbox(SandboxConfig(backend="docker"))


def test_make_sandbox_without_bwrap_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SandboxError, match="apt-get install bubblewrap"):
        make_sandbox(SandboxConfig())
