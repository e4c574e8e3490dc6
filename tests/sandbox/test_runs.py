"""The frameworks a VerifyRequest names, their reports, and requests the sandbox refuses."""

from __future__ import annotations

import asyncio
import re
import tempfile
from pathlib import Path

import pytest

from activities.sandbox import BwrapSandbox, Sandbox, make_sandbox
from activities.sandbox.docker import DockerSandbox
from naestro.config.settings import SandboxConfig
from naestro.contracts import SandboxFile, VerifyRequest
from naestro.errors import SandboxError
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


async def test_passing_pytest_suite(sandbox: Sandbox) -> None:
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
    assert report.backend == sandbox.name and report.exit_code == 0
    assert {(t.name, t.outcome) for t in report.tests} == {
        ("tests.test_calc.test_add", "passed"),
        ("tests.test_calc.test_add_negative", "passed"),
    }
    assert report.summary.startswith("2 passed in ")
    # The private work dir is gone (other processes' runs may come and go meanwhile).
    assert not [d for d in _scratch_dirs() - before if (d / "work" / "pkg" / "calc.py").exists()]


async def test_failing_test_is_named(sandbox: Sandbox) -> None:
    request = VerifyRequest(files=[SandboxFile(path="test_math.py", content=FAILING)])
    report = await sandbox.run(request)
    assert not report.passed and report.exit_code == 1
    assert [t.name for t in report.failed_tests] == ["test_math.test_bad"]
    assert "arithmetic is broken" in report.failed_tests[0].message
    assert report.summary.startswith("1 passed, 1 failed in ")


async def test_unittest_framework(sandbox: Sandbox) -> None:
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
async def test_script_runs_as_the_sandbox_user(sandbox: Sandbox) -> None:
    code = "import os\nprint('IDS', os.getuid(), os.getgid(), os.getgroups())\n"
    report = await sandbox.run(script(code, token()))
    assert report.passed, report.output
    assert re.search(rf"IDS {NOBODY} {NOBODY} \[({NOBODY})?\]", report.output), report.output


async def test_script_exit_code_is_reported(sandbox: Sandbox) -> None:
    request = VerifyRequest(
        files=[SandboxFile(path="main.py", content="import sys\nsys.exit(3)\n")],
        framework="script",
    )
    report = await sandbox.run(request)
    assert not report.passed and report.exit_code == 3
    assert report.summary.startswith("exit code 3 in ")


async def test_runs_in_parallel_stay_apart(sandbox: Sandbox) -> None:
    # Each run writes the same file name in its own /work and must read back its own value.
    code = "import sys, time\nopen('mine', 'w').write(sys.argv[2])\ntime.sleep(0.2)\n"
    code += "print('MINE', open('mine').read())\n"
    reports = await asyncio.gather(*(sandbox.run(script(code, token(), str(n))) for n in range(4)))
    assert [r.passed for r in reports] == [True] * 4
    assert [f"MINE {n}" in r.output for n, r in enumerate(reports)] == [True] * 4


async def test_pytest_without_tests_does_not_pass(sandbox: Sandbox) -> None:
    request = VerifyRequest(files=[SandboxFile(path="util.py", content="x = 1\n")])
    report = await sandbox.run(request)
    assert not report.passed and report.exit_code == 5
    assert report.summary.startswith("exit code 5 (no tests collected) in ")


@pytest.mark.parametrize(
    "path", ["../escape.py", "/etc/cron.d/evil", "pkg/../../escape.py", "..", "a\0b.py"]
)
async def test_path_traversal_is_rejected(sandbox: Sandbox, path: str) -> None:
    request = VerifyRequest(files=[SandboxFile(path=path, content="x = 1\n")])
    with pytest.raises(SandboxError) as caught:
        await sandbox.run(request)
    assert repr(path) in str(caught.value)


async def test_make_sandbox_picks_by_config(
    bwrap_sandbox: BwrapSandbox, docker_sandbox: DockerSandbox
) -> None:
    chosen = {}
    for backend in ("auto", "bwrap", "docker"):
        made = make_sandbox(SandboxConfig(backend=backend, pool_size=0))
        chosen[backend] = made.name
        await made.aclose()
    # auto: Docker answers here (bootstrap.sh starts it), so Docker it is.
    assert chosen == {"auto": "docker", "bwrap": "bwrap", "docker": "docker"}


async def test_auto_falls_back_to_bwrap_when_docker_does_not_answer(
    bwrap_sandbox: BwrapSandbox, tmp_path: Path
) -> None:
    nowhere = f"unix://{tmp_path}/no-docker.sock"
    made = make_sandbox(SandboxConfig(backend="auto", docker_host=nowhere))
    assert isinstance(made, BwrapSandbox)
    report = await made.run(script("print('hi')\n", token()))
    assert report.backend == "bwrap" and report.passed
    with pytest.raises(SandboxError, match="the Docker engine does not answer"):
        make_sandbox(SandboxConfig(backend="docker", docker_host=nowhere))


def test_docker_without_the_image_says_how_to_build_it(docker_sandbox: DockerSandbox) -> None:
    with pytest.raises(SandboxError, match=r"'naestro-sandbox:nope' not found: .*build\.sh"):
        make_sandbox(SandboxConfig(backend="docker", image="naestro-sandbox:nope"))


def test_make_sandbox_without_bwrap_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SandboxError, match="apt-get install bubblewrap"):
        make_sandbox(SandboxConfig(backend="bwrap"))
