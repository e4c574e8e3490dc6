"""The command line that launches one bubblewrap run: rlimits (``prlimit``), namespaces,
the read-only system, the run's scratch dir as ``/work``, the tools, the environment."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from activities.sandbox.commands import REPORT_NAME, WORKDIR
from naestro.contracts import SandboxLimits

MIB = 1024 * 1024
_BWRAP_PROCESSES = 3  # bwrap, its PID 1 and the runner count against RLIMIT_NPROC too
_NPROC_RUNS = 32  # concurrent runs RLIMIT_NPROC leaves room for when cgroups cap each run
# Read-only inside every sandbox: the in-sandbox runner and ruff (for lint).
RUNNER_HOST = Path(__file__).with_name("runner.py")
RUNNER = "/.naestro/runner.py"
RUFF = "/.naestro/ruff"
_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": WORKDIR,
    "PYTHONDONTWRITEBYTECODE": "1",
    "LANG": "C.UTF-8",
}


@dataclass(frozen=True)
class Scratch:
    root: Path  # host-side, private to one run

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def report(self) -> Path:
        return self.work / REPORT_NAME


@dataclass(frozen=True)
class Launcher:
    """The host's tools and binds, fixed for a sandbox; ``argv`` builds one run's."""

    bwrap: str
    prlimit: str
    disable_userns: bool
    system: list[str]  # read-only binds of the host's system dirs (host.system_binds)
    ruff: str | None

    def argv(
        self,
        root: Path,
        limits: SandboxLimits,
        command: Sequence[str],
        info_fd: int,
        *,
        seccomp_fd: int | None = None,
        ro: bool = False,
        cgrouped: bool = False,
        binds: Sequence[tuple[str, str]] = (),
        env: Mapping[str, str] | None = None,
        address_space_mb: int | None = None,
    ) -> list[str]:
        """The full launcher argv for a run whose private scratch dir is ``root``
        (``ro``: the work dir read-only, for lint; ``binds``: more host paths, read-only;
        ``env``: more variables; ``address_space_mb``: RLIMIT_AS other than the memory
        limit, for node, whose reservations dwarf its use)."""
        scratch = Scratch(root)
        cpu, tmpfs = limits.cpu_seconds, str(limits.file_size_mb * MIB)
        address_space = (address_space_mb or limits.memory_mb) * MIB
        prlimit = [
            self.prlimit,
            f"--cpu={cpu}:{cpu + 1}",  # SIGXCPU first, SIGKILL a second later
            f"--as={address_space}",
            f"--nproc={self.nproc(limits, cgrouped)}",
            f"--fsize={limits.file_size_mb * MIB}",
            "--core=0",
        ]
        namespaces = ["--unshare-all", "--unshare-user"]
        if self.disable_userns:
            namespaces.append("--disable-userns")
        variables = {**_ENV, **(env or {})}
        setenv = [arg for key, value in variables.items() for arg in ("--setenv", key, value)]
        identity = [
            "--ro-bind", str(scratch.root / "passwd"), "/etc/passwd",
            "--ro-bind", str(scratch.root / "group"), "/etc/group",
        ]  # fmt: skip
        # tmpfs lives in RAM that RLIMIT_AS does not count: cap each one; "/" and /dev go
        # read-only last, so the only writable places are /work, /tmp and /dev/shm.
        mounts = [
            "--proc", "/proc", "--dev", "/dev",
            "--size", tmpfs, "--tmpfs", "/dev/shm", "--remount-ro", "/dev",
            "--size", tmpfs, "--tmpfs", "/tmp",
            "--ro-bind" if ro else "--bind", str(scratch.work), WORKDIR, "--chdir", WORKDIR,
            "--remount-ro", "/",
        ]  # fmt: skip
        tools = ["--ro-bind", str(RUNNER_HOST), RUNNER]
        if self.ruff is not None:
            tools += ["--ro-bind", self.ruff, RUFF]
        for host_path, inside in binds:
            tools += ["--ro-bind", host_path, inside]
        if seccomp_fd is not None:
            tools += ["--seccomp", str(seccomp_fd)]
        bwrap = [
            self.bwrap, *namespaces, "--new-session", "--die-with-parent",
            "--cap-drop", "ALL", "--hostname", "sandbox", "--info-fd", str(info_fd),
            "--clearenv", *setenv, *self.system, *identity, *tools, *mounts,
        ]  # fmt: skip
        return [*prlimit, "--", *bwrap, "--", *command]

    @staticmethod
    def nproc(limits: SandboxLimits, cgrouped: bool) -> int:
        # RLIMIT_NPROC counts every process of the sandbox user on the host, so concurrent
        # runs share it: with a cgroup's pids.max capping each run alone, it only needs to
        # stop a host-wide runaway; without one it is the per-run cap.
        own = limits.processes + _BWRAP_PROCESSES
        return max(own * _NPROC_RUNS, 1024) if cgrouped else own
