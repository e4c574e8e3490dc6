"""Resource limits, output capping, teardown, and a hostile JUnit file."""

from __future__ import annotations

import asyncio
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

import pytest

from activities.sandbox import BwrapSandbox, Sandbox
from activities.sandbox.bwrap import guarded
from naestro.contracts import SandboxFile, SandboxLimits, VerifyRequest
from tests.sandbox.conftest import (
    needs_root,
    processes_in_namespace,
    processes_with,
    script,
    token,
)

pytestmark = pytest.mark.timeout(30)

NAMESPACE = "import os\nprint('PIDNS', os.readlink('/proc/self/ns/pid'), flush=True)\n"
FORK_BOMB = NAMESPACE + "while True:\n    os.fork()\n"
MEMORY_BOMB = "blocks = []\nwhile True:\n    blocks.append(bytearray(16 * 1024 * 1024))\n"
SPIN = "while True:\n    pass\n"
FLOOD = (  # 1 GiB
    "import sys\n"
    "chunk = b'x' * (1 << 20)\n"
    "for _ in range(1024):\n"
    "    sys.stdout.buffer.write(chunk)\n"
)
DAEMON = f"""{NAMESPACE}
import signal
if os.fork() == 0:
    os.setsid()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    if os.fork() == 0:
        os.execv("/bin/sleep", ["sleep", "60"])  # no marker left in its command line
    os._exit(0)
print("parent leaves a daemon behind")
"""


def _rss_kib() -> int:
    status = Path("/proc/self/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1])


def _pid_namespace(output: str) -> str:
    return next(line.split()[1] for line in output.splitlines() if line.startswith("PIDNS"))


async def test_fork_bomb_hits_the_process_limit(sandbox: Sandbox) -> None:
    marker, started = token(), time.monotonic()
    report = await sandbox.run(script(FORK_BOMB, marker, processes=16, wall_seconds=8))
    assert not report.passed and not report.timed_out, report.summary
    assert time.monotonic() - started < 8
    assert "BlockingIOError" in report.output  # fork() refused: RLIMIT_NPROC
    assert processes_with(marker) == []
    assert processes_in_namespace(_pid_namespace(report.output)) == []


async def test_memory_bomb_is_stopped(sandbox: Sandbox) -> None:
    report = await sandbox.run(script(MEMORY_BOMB, token(), memory_mb=128))
    assert not report.passed and not report.timed_out
    assert "MemoryError" in report.output
    assert report.summary == "killed: memory limit"


async def test_endless_loop_is_killed_at_the_wall_limit(sandbox: Sandbox) -> None:
    marker = token()
    report = await sandbox.run(script(SPIN, marker, wall_seconds=1.5))
    assert report.timed_out and not report.passed
    assert report.summary == "timed out after 1.5s"
    assert 1500 <= report.duration_ms < 4500
    assert processes_with(marker) == []


async def test_cpu_limit_kills(sandbox: Sandbox) -> None:
    report = await sandbox.run(script(SPIN, token(), cpu_seconds=1, wall_seconds=10))
    assert not report.timed_out and not report.passed
    assert report.summary == "killed: CPU time limit"


async def test_huge_output_is_truncated_in_flat_memory(sandbox: Sandbox) -> None:
    rss_before, peak_before = _rss_kib(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report = await sandbox.run(script(FLOOD, token(), wall_seconds=25, cpu_seconds=25))
    rss_growth = _rss_kib() - rss_before
    peak_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before
    assert report.passed and report.output_truncated, report.summary
    assert report.output.startswith("x" * 64_000)
    assert "kept the first 64000 of 1073741824 bytes" in report.output
    assert rss_growth < 50 * 1024 and peak_growth < 50 * 1024, (rss_growth, peak_growth)


async def test_no_sandboxed_process_survives_a_run(sandbox: Sandbox) -> None:
    report = await sandbox.run(script(DAEMON, token()))
    assert report.passed, report.output
    assert processes_in_namespace(_pid_namespace(report.output)) == []


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
async def test_hostile_junit_file_is_not_followed(
    sandbox: Sandbox, tmp_path: Path, kind: str
) -> None:
    # A root-only host file that a link planted in the work dir points at.
    leak = tmp_path / "leak.xml"
    leak.write_text('<testsuite><testcase classname="x" name="LEAKED"/></testsuite>')
    leak.chmod(0o600)
    plant = f"os.symlink({str(leak)!r}, path)" if kind == "symlink" else "os.mkfifo(path)"
    conftest = (
        "import os\n"
        "def pytest_unconfigure(config):\n"
        "    path = '.naestro-junit.xml'\n"
        "    os.remove(path)\n"
        f"    {plant}\n"
    )
    request = VerifyRequest(
        files=[
            SandboxFile(path="conftest.py", content=conftest),
            SandboxFile(path="test_x.py", content="def test_x():\n    pass\n"),
        ],
        limits=SandboxLimits(wall_seconds=10),
    )
    report = await sandbox.run(request)
    assert report.passed, report.output
    assert report.tests == []  # the planted file was refused, the exit code still counts


LAUNCHER = """
import asyncio, sys
from activities.sandbox import BwrapSandbox
from activities.sandbox.docker import DockerSandbox
from tests.sandbox.conftest import script
code = "import time\\ntime.sleep(60)\\n"
made = {"bwrap": BwrapSandbox, "docker": lambda: DockerSandbox(pool_size=0)}[sys.argv[2]]()
asyncio.run(made.run(script(code, sys.argv[1], wall_seconds=30)))
"""


def _wait_until(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def _scratch_dirs_of(pids: list[int]) -> set[Path]:
    """The scratch dirs named in these processes' bwrap command lines."""
    found = set()
    for pid in pids:
        with suppress(OSError):
            for arg in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0"):
                if b"/naestro-bwrap-" in arg:
                    found.add(Path(arg.decode()).parent)
    return found


@pytest.mark.timeout(90)  # its own waits (10 s to start, 30 s to go) on loaded CPUs
@pytest.mark.parametrize("backend", ["bwrap", "docker"])
def test_sandbox_dies_with_its_launcher(backend: str) -> None:
    # bwrap: --die-with-parent; Docker: the container's PID 1 reads a stdin only the
    # launcher holds, so the launcher's death ends the container.
    marker, root = token(), Path(__file__).resolve().parents[2]
    launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER, marker, backend], cwd=root)

    def sandboxed() -> list[int]:
        return [pid for pid in processes_with(marker) if pid != launcher.pid]

    scratch: set[Path] = set()
    try:
        assert _wait_until(lambda: bool(sandboxed()), 10), "the sandbox never started"
        scratch = _scratch_dirs_of(sandboxed())
        launcher.kill()  # SIGKILL: no finally runs in the launcher
        launcher.wait()
        # 30 s: once, in a full run, the namespace's processes took longer than 10 s to go.
        assert _wait_until(lambda: not sandboxed(), 30), sandboxed()
    finally:
        launcher.kill()
        launcher.wait()
        for leftover in scratch:  # what a crashed worker leaves behind
            shutil.rmtree(leftover, ignore_errors=True)


# A launcher that starts the guarded chain gated on a pipe the test holds, then waits.
GUARDED = """
import os, subprocess, sys, time
from activities.sandbox.bwrap import guarded
from activities.sandbox.cgroup import GATE
argv = ["setpriv", "--pdeathsig", "KILL", "--", "/bin/sh", "-c", guarded(GATE), "sh"]
subprocess.Popen([*argv, str(os.getpid()), "sleep", "60", sys.argv[1]], stdin=int(sys.argv[2]))
time.sleep(60)
"""


def test_a_launcher_dying_before_bwrap_starts_leaves_nothing_running() -> None:
    # bwrap's --die-with-parent holds only once bwrap runs; dying before, at the gate, the
    # worker would leave an orphan that the gate lets on to run its whole wall limit.
    marker, root = token(), Path(__file__).resolve().parents[2]
    gate_r, gate_w = os.pipe()
    launcher = subprocess.Popen(
        [sys.executable, "-c", GUARDED, marker, str(gate_r)], cwd=root, pass_fds=(gate_r,)
    )
    os.close(gate_r)

    def chain() -> list[int]:
        return [pid for pid in processes_with(marker) if pid != launcher.pid]

    try:
        assert _wait_until(lambda: bool(chain()), 10), "the chain never started"
        launcher.kill()
        launcher.wait()
        with suppress(BrokenPipeError):  # nobody left to read it: the chain died with it
            os.write(gate_w, b"go\n")  # the go comes after the launcher's death
        assert _wait_until(lambda: not chain(), 10), chain()
    finally:
        os.close(gate_w)
        launcher.kill()
        launcher.wait()


def test_the_guard_runs_nothing_for_a_parent_that_is_not_the_launcher() -> None:
    # Reparented before setpriv's signal was set: the parent is no longer the launcher.
    chain = ["setpriv", "--pdeathsig", "KILL", "--", "/bin/sh", "-c", guarded(None), "sh"]
    ran = subprocess.run([*chain, "1", "echo", "ran"], capture_output=True, text=True, timeout=10)
    assert (ran.returncode, ran.stdout) == (125, "")
    ran = subprocess.run(
        [*chain, str(os.getpid()), "env"], capture_output=True, text=True, timeout=10
    )
    assert (ran.returncode, ran.stdout) == (0, "")  # env -i: not even the PWD the shell added


def _sandbox_cgroups(marker: str) -> list[Path]:
    """The naestro-sandbox cgroup dirs of the processes whose command line holds marker."""
    found = []
    for pid in processes_with(marker):
        with suppress(OSError):
            for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
                _, controllers, path = line.split(":", 2)
                if "/naestro-sandbox/" in path:
                    found.append(Path("/sys/fs/cgroup", controllers, path.lstrip("/")))
    return found


@needs_root()
async def test_bwrap_run_gets_its_own_pids_and_memory_cgroup(
    bwrap_sandbox: BwrapSandbox,
) -> None:
    # Seen from the host: inside, the cgroup namespace shows "/".
    marker = token()
    request = script("import time\ntime.sleep(30)\n", marker, processes=16, wall_seconds=3)
    run = asyncio.create_task(bwrap_sandbox.run(request))
    dirs: list[Path] = []
    for _ in range(100):  # until the sandboxed process shows up, 2.5 s at most
        if dirs := _sandbox_cgroups(marker):
            break
        await asyncio.sleep(0.025)
    report = await run
    assert report.timed_out and dirs, report.output
    assert {d.parent.name for d in dirs} == {"naestro-sandbox"}
    pids_max = [d / "pids.max" for d in dirs if d.parts[4] in ("pids", "naestro-sandbox")]
    assert pids_max  # the v1 pids controller, or the v2 unified hierarchy
    assert not any(map(Path.exists, dirs))  # removed after the run
