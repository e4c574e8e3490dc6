"""BwrapSandbox: run untrusted code's tests under bubblewrap, as an unprivileged user.

The chain, outermost first: the worker forks, drops to the sandbox user with an empty
environment in a new session and execs ``prlimit`` (which sets the rlimits on itself, so no
``preexec_fn`` runs Python between fork and exec in a threaded worker); prlimit execs
``bwrap``, which clones PID 1 of fresh user/pid/net/ipc/uts/mount namespaces; that PID 1
runs the command. When it dies the kernel kills everything else in its PID namespace, so
the launcher holds pidfds on bwrap and on that PID 1 (whose PID ``--info-fd`` reports) and
SIGKILLs both after every run, on timeout and on cancellation alike; ``--die-with-parent``
covers the launcher itself dying.

Hardening on top: a seccomp filter (seccomp.py, ``--seccomp``), nested user namespaces
off (``--disable-userns``), read-only ``/``, size-capped tmpfs, and where the host offers
one a pids + memory cgroup per run (cgroup.py; the launcher waits at a gate until it is
inside). The command runs under the in-sandbox runner (runner.py), which reports its exit
status and resource use; lint runs ruff in a second bwrap over the same files, read-only.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from activities.sandbox import cgroup, seccomp
from activities.sandbox.bwrap_run import Outcome, Run
from activities.sandbox.commands import LINT_COMMAND, REPORT_NAME, WORKDIR, default_command
from activities.sandbox.lint import lint_report
from activities.sandbox.paths import validate_paths
from activities.sandbox.report import build_report, parse_trailer, read_junit, resource_use
from naestro.contracts import SandboxLimits, VerificationReport, VerifyRequest
from naestro.errors import SandboxError

log = logging.getLogger(__name__)

DEFAULT_PYTHON = "/usr/bin/python3"
INSTALL_HINT = "apt-get install bubblewrap"
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
# Only what the dynamic loader and time zones need; /etc as a whole stays out of sight.
_ETC_FILES = ("/etc/ld.so.cache", "/etc/localtime", "/etc/alternatives")
_ROOT_DIRS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")


def _find_ruff() -> str | None:
    """ruff from the worker's PATH, else beside the worker's python (the venv's bin)."""
    beside = Path(sys.executable).with_name("ruff")
    found = shutil.which("ruff") or (str(beside) if beside.is_file() else None)
    return str(Path(found).resolve()) if found else None


def _require_tool(name: str, hint: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise SandboxError(f"{name} is not installed or not executable: {hint}")
    return found


@functools.cache
def _supports(bwrap: str, flag: str) -> bool:
    help_text = subprocess.run(
        [bwrap, "--help"], capture_output=True, text=True, timeout=10, check=False
    )
    return flag in help_text.stdout + help_text.stderr


def _system_binds(extra: Sequence[str]) -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in _ROOT_DIRS:
        path = Path("/", name)
        if path.is_symlink():  # merged /usr: /lib -> usr/lib
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    for etc in _ETC_FILES:
        args += ["--ro-bind-try", etc, etc]
    for path_text in extra:
        args += ["--ro-bind", path_text, path_text]
    return args


@dataclass(frozen=True)
class _Identity:
    uid: int
    gid: int
    switch: bool  # only root can drop to another user; others run the sandbox as themselves

    @classmethod
    def resolve(cls, user: str) -> _Identity:
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            raise SandboxError(f"sandbox user {user!r} does not exist") from None
        if entry.pw_uid == 0:
            raise SandboxError("the sandbox user must not be root")
        if os.geteuid() == 0:
            return cls(entry.pw_uid, entry.pw_gid, switch=True)
        if entry.pw_uid != os.geteuid():
            log.warning("not root: sandboxes run as uid %d instead of %s", os.geteuid(), user)
        return cls(os.geteuid(), os.getegid(), switch=False)


@dataclass(frozen=True)
class _Scratch:
    root: Path  # host-side, private to one run

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def report(self) -> Path:
        return self.work / REPORT_NAME


def _release(proc: asyncio.subprocess.Process, group: cgroup.RunCgroup) -> None:
    """Move the gated launcher into its cgroup, then let it go on."""
    assert proc.stdin is not None
    try:
        group.add(proc.pid)
    except OSError as exc:
        log.warning("could not join the sandbox cgroup (%s): rlimits only", exc)
    proc.stdin.write(b"go\n")
    proc.stdin.close()


class BwrapSandbox:
    """The Sandbox protocol over bubblewrap; see the module docstring for the layers."""

    name = "bwrap"

    def __init__(
        self,
        user: str = "nobody",
        python: str = DEFAULT_PYTHON,
        *,
        bwrap: str = "bwrap",
        ro_binds: Sequence[str] = (),
    ) -> None:
        self._bwrap = _require_tool(bwrap, INSTALL_HINT)
        self._prlimit = _require_tool("prlimit", "apt-get install util-linux")
        self._identity = _Identity.resolve(user)
        self._python = python
        self._check_python(python, ro_binds)
        self._system = _system_binds(ro_binds)
        self._disable_userns = _supports(self._bwrap, "--disable-userns")
        self._ruff = _find_ruff()
        seccomp.filter_program()  # fail now, not on the first run, without libseccomp

    @staticmethod
    def _check_python(python: str, ro_binds: Sequence[str]) -> None:
        visible = [Path("/usr"), *(Path(p) for p in ro_binds)]
        path = Path(python)
        paths = (path, path.resolve())
        if not path.is_file() or not all(any(p.is_relative_to(v) for v in visible) for p in paths):
            raise SandboxError(
                f"python {python!r} must exist under /usr or a ro_binds path to be usable "
                "inside the sandbox (Debian: apt-get install python3 python3-pytest)"
            )

    @functools.cached_property
    def fingerprint(self) -> str:
        """bubblewrap's version and the python the sandbox runs: part of the cache key."""
        version = subprocess.run(
            [self._bwrap, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout.strip()
        python = Path(self._python).resolve()
        return f"{version} {python} {python.stat().st_mtime_ns}"

    async def aclose(self) -> None:
        """Nothing stays running between bubblewrap runs."""

    async def run(self, request: VerifyRequest) -> VerificationReport:
        files = validate_paths(request.files)
        command = self._command(request, files)
        limits = request.limits
        # Synchronous on purpose: no await between creating the dir and the finally that
        # removes it, so a cancellation cannot leak it; it is a few small files.
        scratch = self._prepare(files)
        try:
            runs = [self._execute(scratch, limits, self._wrap(command, limits))]
            if request.lint:  # ruff reads the same files, bound read-only, at the same time
                runs.append(self._execute(scratch, limits, self._lint_command(limits), ro=True))
            outcomes = await asyncio.gather(*runs)
            junit = None
            if request.framework == "pytest":
                junit = await asyncio.to_thread(read_junit, scratch.report)
        finally:
            await asyncio.to_thread(shutil.rmtree, scratch.root, ignore_errors=True)
        report = self._report(request, outcomes[0], junit)
        if request.lint:
            lint = outcomes[1]
            trailer = parse_trailer(bytes(lint.errors.head))
            code = trailer.get("exit_code", lint.exit_code)
            found = lint_report(code, bytes(lint.capture.head), lint.timed_out)
            report = report.model_copy(update={"lint": found})
        log.info("sandbox run finished: %s", report.summary)
        return report

    def _wrap(self, command: list[str], limits: SandboxLimits) -> list[str]:
        """The command under the in-sandbox runner, which reports exit status and usage."""
        return [self._python, "-S", RUNNER, "--limit", str(limits.output_bytes), "--", *command]

    def _lint_command(self, limits: SandboxLimits) -> list[str]:
        if self._ruff is None:
            raise SandboxError("lint needs ruff on the worker's PATH (uv sync installs it)")
        return self._wrap([RUFF, *LINT_COMMAND[1:]], limits)

    def _report(
        self, request: VerifyRequest, outcome: Outcome, junit: bytes | None
    ) -> VerificationReport:
        trailer = parse_trailer(bytes(outcome.errors.head))
        self._check_sandbox_ran(outcome, request, junit)
        code = trailer.get("exit_code", outcome.exit_code)
        total = trailer.get("output_total")
        report = build_report(
            backend=self.name,
            framework=request.framework,
            exit_code=code if isinstance(code, int) else outcome.exit_code,
            timed_out=outcome.timed_out,
            duration_s=outcome.duration_s,
            wall_seconds=request.limits.wall_seconds,
            output=bytes(outcome.capture.head),
            output_total=max(outcome.capture.total, total if isinstance(total, int) else 0),
            junit=junit,
        )
        return report.model_copy(update={"resources": resource_use(trailer)})

    def _command(self, request: VerifyRequest, files: list[tuple[PurePosixPath, str]]) -> list[str]:
        # Inside, PATH holds system dirs only: the usual names mean the configured python.
        return default_command(request, self._python, files)

    def _prepare(self, files: list[tuple[PurePosixPath, str]]) -> _Scratch:
        scratch = _Scratch(Path(tempfile.mkdtemp(prefix="naestro-bwrap-")))
        try:
            # bwrap runs as the sandbox user and must reach work/: others may only traverse.
            scratch.root.chmod(0o711)
            (scratch.root / "passwd").write_text(
                f"sandbox:x:{self._identity.uid}:{self._identity.gid}::{WORKDIR}:/bin/false\n"
            )
            (scratch.root / "group").write_text(f"sandbox:x:{self._identity.gid}:\n")
            scratch.work.mkdir(mode=0o700)
            for path, content in files:
                target = scratch.work / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(content, encoding="utf-8")
            self._hand_over(scratch.work)
        except (OSError, ValueError) as exc:  # ValueError: content that is not encodable
            shutil.rmtree(scratch.root, ignore_errors=True)
            raise SandboxError(f"could not prepare the sandbox work dir: {exc}") from exc
        return scratch

    def _hand_over(self, work: Path) -> None:
        if not self._identity.switch:
            return
        uid, gid = self._identity.uid, self._identity.gid
        for dirpath, dirnames, filenames in os.walk(work):
            os.chown(dirpath, uid, gid)
            for name in [*dirnames, *filenames]:
                os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)

    def build_argv(
        self,
        root: Path,
        limits: SandboxLimits,
        command: Sequence[str],
        info_fd: int,
        *,
        seccomp_fd: int | None = None,
        ro: bool = False,
        cgrouped: bool = False,
    ) -> list[str]:
        """The full launcher argv for a run whose private scratch dir is ``root``
        (``ro``: the work dir read-only, for lint)."""
        scratch = _Scratch(root)
        cpu, tmpfs = limits.cpu_seconds, str(limits.file_size_mb * MIB)
        prlimit = [
            self._prlimit,
            f"--cpu={cpu}:{cpu + 1}",  # SIGXCPU first, SIGKILL a second later
            f"--as={limits.memory_mb * MIB}",
            f"--nproc={self._nproc(limits, cgrouped)}",
            f"--fsize={limits.file_size_mb * MIB}",
            "--core=0",
        ]
        namespaces = ["--unshare-all", "--unshare-user"]
        if self._disable_userns:
            namespaces.append("--disable-userns")
        env = [arg for key, value in _ENV.items() for arg in ("--setenv", key, value)]
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
        if self._ruff is not None:
            tools += ["--ro-bind", self._ruff, RUFF]
        if seccomp_fd is not None:
            tools += ["--seccomp", str(seccomp_fd)]
        bwrap = [
            self._bwrap, *namespaces, "--new-session", "--die-with-parent",
            "--cap-drop", "ALL", "--hostname", "sandbox", "--info-fd", str(info_fd),
            "--clearenv", *env, *self._system, *identity, *tools, *mounts,
        ]  # fmt: skip
        return [*prlimit, "--", *bwrap, "--", *command]

    @staticmethod
    def _nproc(limits: SandboxLimits, cgrouped: bool) -> int:
        # RLIMIT_NPROC counts every process of the sandbox user on the host, so concurrent
        # runs share it: with a cgroup's pids.max capping each run alone, it only needs to
        # stop a host-wide runaway; without one it is the per-run cap.
        own = limits.processes + _BWRAP_PROCESSES
        return max(own * _NPROC_RUNS, 1024) if cgrouped else own

    async def _execute(
        self, scratch: _Scratch, limits: SandboxLimits, command: Sequence[str], *, ro: bool = False
    ) -> Outcome:
        group = cgroup.create(limits) if self._identity.switch else None
        try:
            info_r, info_w = os.pipe()
            filter_r = seccomp.filter_fd()
            try:
                argv = self.build_argv(
                    scratch.root,
                    limits,
                    command,
                    info_w,
                    seccomp_fd=filter_r,
                    ro=ro,
                    cgrouped=group is not None,
                )
                log.debug("sandbox argv: %s", argv)
                proc = await self._spawn(argv, (info_w, filter_r), group)
            except BaseException:
                os.close(info_r)
                raise
            finally:
                os.close(info_w)  # bwrap holds the only write end: EOF tells us it is done
                os.close(filter_r)
            return await Run(proc, limits.output_bytes).complete(info_r, limits.wall_seconds)
        finally:
            if group is not None:
                group.kill_and_remove()

    async def _spawn(
        self, argv: list[str], fds: tuple[int, ...], group: cgroup.RunCgroup | None
    ) -> asyncio.subprocess.Process:
        switch = self._identity.switch
        if group is not None:  # wait at the gate until the worker has moved us in
            argv = ["/bin/sh", "-c", cgroup.GATE, "sh", *argv]
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=subprocess.PIPE if group is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={},  # PID 1 inside is bwrap's clone: its /proc/1/environ is this one
                start_new_session=True,
                pass_fds=fds,
                user=self._identity.uid if switch else None,
                group=self._identity.gid if switch else None,
                extra_groups=[] if switch else None,
            )
        except OSError as exc:
            raise SandboxError(f"could not start bwrap: {exc}") from exc
        if group is not None:
            _release(proc, group)
        return proc

    def _check_sandbox_ran(
        self, outcome: Outcome, request: VerifyRequest, junit: bytes | None
    ) -> None:
        """SandboxError when the sandbox, not the code under test, failed."""
        head = bytes(outcome.capture.head[:2000]).decode("utf-8", errors="replace")
        if not outcome.started and not outcome.timed_out:
            said = bytes(outcome.errors.head[:2000]).decode("utf-8", errors="replace")
            raise SandboxError(f"bwrap could not set up the sandbox: {said.strip()}")
        no_pytest = f"{self._python}: No module named pytest"
        if request.command is None and junit is None and head.startswith(no_pytest):
            raise SandboxError(f"{no_pytest} (Debian: apt-get install python3-pytest)")
