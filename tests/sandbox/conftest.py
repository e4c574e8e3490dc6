"""Fixtures for the sandbox tests: every test that takes ``sandbox`` runs once per backend,
on a real BwrapSandbox and a real DockerSandbox (scripts/bootstrap.sh installs both)."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from activities.sandbox import Sandbox
from activities.sandbox.bwrap import DEFAULT_PYTHON, BwrapSandbox
from activities.sandbox.docker import DockerSandbox
from naestro.contracts import SandboxFile, SandboxLimits, VerifyRequest

NOBODY = 65534
FAST = SandboxLimits(wall_seconds=10, cpu_seconds=10)


def _missing() -> str | None:
    if shutil.which("bwrap") is None:
        return "bubblewrap is not installed (apt-get install bubblewrap)"
    probe = subprocess.run(
        [DEFAULT_PYTHON, "-c", "import pytest"], capture_output=True, check=False, cwd="/"
    )
    if probe.returncode != 0:
        return f"{DEFAULT_PYTHON} has no pytest (apt-get install python3-pytest)"
    return None


@pytest.fixture(scope="session")
def bwrap_sandbox() -> BwrapSandbox:
    reason = _missing()
    if reason:  # scripts/bootstrap.sh installs both: a missing one is a broken set-up
        pytest.fail(f"{reason}; run ./scripts/bootstrap.sh")
    return BwrapSandbox()


@pytest.fixture(scope="session")
async def docker_sandbox() -> AsyncIterator[DockerSandbox]:
    # Not skipped when Docker is missing: bootstrap.sh installs and starts it, and builds
    # the image, so a missing engine is a broken setup that must show.
    made = DockerSandbox(pool_size=4, limits=FAST)
    await made.warm_up()
    yield made
    await made.aclose()


@pytest.fixture(scope="session", params=["bwrap", "docker"])
def sandbox(request: pytest.FixtureRequest) -> Sandbox:
    made: Sandbox = request.getfixturevalue(f"{request.param}_sandbox")
    return made


@pytest.fixture
def as_root() -> None:
    if os.geteuid() != 0:  # CI and bootstrap run as root; a partial check proves nothing
        pytest.fail("dropping to the sandbox user needs root: run the suite as root")


def needs_root() -> pytest.MarkDecorator:
    return pytest.mark.usefixtures("as_root")


def token() -> str:
    """A marker put in a sandboxed command's argv, to find its processes from the host."""
    return f"naestro-token-{uuid.uuid4().hex}"


def script(code: str, marker: str, *args: str, **limits: float) -> VerifyRequest:
    """Run ``code`` as main.py with argv [marker, *args] under FAST limits (overridable)."""
    return VerifyRequest(
        files=[SandboxFile(path="main.py", content=code)],
        framework="script",
        command=["python3", "main.py", marker, *args],
        limits=FAST.model_copy(update=limits),
    )


def processes_with(marker: str) -> list[int]:
    """Host PIDs of live (non-zombie) processes whose command line holds ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline and int(entry.name) != os.getpid():
            found.append(int(entry.name))
    return found


def processes_in_namespace(pid_ns: str) -> list[int]:
    """Host PIDs of live processes in the PID namespace ``pid_ns`` ("pid:[inode]", as the
    sandboxed code reads it from /proc/self/ns/pid: namespace ids are the same everywhere)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if os.readlink(entry / "ns" / "pid") != pid_ns:
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            found.append(int(entry.name))
    return found
