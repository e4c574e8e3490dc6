"""BwrapSandbox: run untrusted code's tests under bubblewrap, as an unprivileged user.

The chain, outermost first: the worker forks, drops to the sandbox user with an empty
environment in a new session and execs ``setpriv`` (SIGKILL when the worker dies) and a
shell that checks the worker is still its parent (``guarded``; with a cgroup it then waits
at the gate below), which execs ``prlimit`` (which sets the rlimits on itself, so no
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

A request with a workspace (suites.py) gets it unpacked into the work dir first
(workspace.py, in a thread), its dependencies installed from the wheel cache by pip in a
sandbox of their own and bound read-only into the test runs (deps.py), then its suites
run one after the other over the same work dir.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Awaitable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path, PurePosixPath
from typing import TypeVar

from activities.sandbox import cgroup, deps, seccomp, suites, workspace
from activities.sandbox.bwrap_argv import RUFF, RUNNER, Launcher, Scratch
from activities.sandbox.bwrap_run import Outcome, Run
from activities.sandbox.commands import LINT_COMMAND, WORKDIR
from activities.sandbox.host import Identity, find_ruff, require_tool, supports, system_binds
from activities.sandbox.lint import lint_report
from activities.sandbox.paths import validate_paths
from activities.sandbox.report import build_report, parse_trailer, read_junit, resource_use
from naestro.contracts import LintReport, SandboxLimits, VerificationReport, VerifyRequest
from naestro.contracts.verify import WorkspaceSpec
from naestro.errors import SandboxError

log = logging.getLogger(__name__)

DEFAULT_PYTHON = "/usr/bin/python3"
INSTALL_HINT = "apt-get install bubblewrap"
T = TypeVar("T")


def guarded(gate: str | None) -> str:
    """The launcher's first words, a shell between setpriv and prlimit. bwrap's own
    ``--die-with-parent`` takes hold only once bwrap runs: a worker dying before that would
    leave the run reparented, its parent-death signal then tied to init. So setpriv sets
    SIGKILL on the worker's death first (kept across the execs that follow), and the shell
    checks its parent is still the worker (``$1``) before going on; ``gate`` runs next.
    ``env -i``: the shell added PWD to the empty environment."""
    steps = ["read -r _ _ _ parent _ </proc/$$/stat", '[ "$parent" = "$1" ] || exit 125', "shift"]
    steps += [gate] if gate else []
    return "; ".join([*steps, 'exec /usr/bin/env -i "$@" </dev/null'])


def _release(proc: asyncio.subprocess.Process, group: cgroup.RunCgroup) -> None:
    """Move the gated launcher into its cgroup, then let it go on."""
    assert proc.stdin is not None
    try:
        group.add(proc.pid)
    except OSError as exc:
        log.warning("could not join the sandbox cgroup (%s): rlimits only", exc)
    proc.stdin.write(b"go\n")
    proc.stdin.close()


async def _settled(work: Awaitable[T]) -> T:
    """Await a thread's work; when cancelled, let the thread finish first (it cannot be
    stopped), so the caller's cleanup never races it."""
    future = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await asyncio.wait({future})
        raise


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
        wheel_cache: str | None = None,
        caps: workspace.Caps | None = None,
    ) -> None:
        self._bwrap = require_tool(bwrap, INSTALL_HINT)
        self._identity = Identity.resolve(user)
        self._python = python
        self._check_python(python, ro_binds)
        self._ruff = find_ruff()
        self._setpriv = require_tool("setpriv", "apt-get install util-linux")
        self._launcher = Launcher(
            bwrap=self._bwrap,
            prlimit=require_tool("prlimit", "apt-get install util-linux"),
            disable_userns=supports(self._bwrap, "--disable-userns"),
            system=system_binds(ro_binds),
            ruff=self._ruff,
        )
        self._wheel_cache = Path(wheel_cache).resolve() if wheel_cache else None
        self._caps = caps or workspace.Caps()
        self._installs = deps.Installs()
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
    def _tools(self) -> str:
        """bubblewrap's version and the python the sandbox runs."""
        version = subprocess.run(
            [self._bwrap, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout.strip()
        python = Path(self._python).resolve()
        return f"{version} {python} {python.stat().st_mtime_ns}"

    @property
    def fingerprint(self) -> str:
        """The tools and the wheel cache's content: part of the test cache key."""
        if self._wheel_cache is None:
            return self._tools
        return f"{self._tools} wheels:{deps.fingerprint(self._wheel_cache)}"

    async def aclose(self) -> None:
        """Nothing stays running between bubblewrap runs; installed dependencies go."""
        await asyncio.to_thread(self._installs.close)

    async def run(
        self, request: VerifyRequest, workspace: bytes | None = None
    ) -> VerificationReport:
        files = validate_paths(request.files)
        if request.workspace is not None and workspace is None:
            raise SandboxError("a workspace request needs the archive's bytes")
        async with self._site(request.workspace) as site:
            if isinstance(site, VerificationReport):  # a dependency could not be installed
                return site
            report = await self._run(request, files, workspace, site)
        log.info("sandbox run finished: %s", report.summary)
        return report

    async def _run(
        self,
        request: VerifyRequest,
        files: list[tuple[PurePosixPath, str]],
        archive: bytes | None,
        site: Path | None,
    ) -> VerificationReport:
        # Synchronous on purpose: no await between creating the dir and the finally that
        # removes it, so a cancellation cannot leak it; it is a few small files.
        scratch = self._prepare(files if archive is None else [])
        try:
            tree: list[PurePosixPath] = []
            if archive is not None:
                fill = asyncio.to_thread(self._fill, scratch, request, archive, files)
                tree = await _settled(fill)
            plan = suites.plan(request, files, self._python, tree)
            if not request.lint:
                return suites.combine(
                    self.name, plan, await self._suites(scratch, request, plan, site)
                )
            # ruff reads the same files, bound read-only, at the same time
            reports, linted = await asyncio.gather(
                self._suites(scratch, request, plan, site), self._lint(scratch, request, files)
            )
        finally:
            await asyncio.to_thread(shutil.rmtree, scratch.root, ignore_errors=True)
        return suites.combine(self.name, plan, reports).model_copy(update={"lint": linted})

    def _fill(
        self,
        scratch: Scratch,
        request: VerifyRequest,
        archive: bytes,
        files: list[tuple[PurePosixPath, str]],
    ) -> list[PurePosixPath]:
        """The workspace, the model's files over it, all handed to the sandbox user; the
        tree's files when planning needs them."""
        assert request.workspace is not None
        workspace.unpack(archive, request.workspace.format, scratch.work, self._caps)
        workspace.write_files(scratch.work, files)
        self._identity.hand_over(scratch.work)
        return suites.tree_files(scratch.work) if suites.needs_tree(request) else []

    async def _suites(
        self, scratch: Scratch, request: VerifyRequest, plan: suites.Plan, site: Path | None
    ) -> list[VerificationReport]:
        limits = request.limits
        reports: list[VerificationReport] = []
        binds = [(str(site), deps.SITE)] if site is not None else []
        for suite in plan.suites:  # one after the other: they share the work dir
            outcome = await self._execute(
                scratch,
                limits,
                self._wrap(suite.command, limits),
                binds=binds,
                env=suite.env(limits, deps.SITE if site is not None else None),
                address_space_mb=suite.address_space_mb(limits),
            )
            junit = None
            if suite.junit:
                junit = await asyncio.to_thread(read_junit, scratch.work / suite.junit)
            reports.append(self._report(request, suite, outcome, junit))
        return reports

    async def _lint(
        self, scratch: Scratch, request: VerifyRequest, files: list[tuple[PurePosixPath, str]]
    ) -> LintReport:
        targets = ["."]
        if request.workspace is not None:  # the model's Python files, not the user's code
            targets = [str(path) for path, _ in files if path.suffix == ".py"]
            if not targets:
                return LintReport(passed=True, exit_code=0, summary="ruff: no Python files")
        limits = request.limits
        command = self._wrap(self._lint_command(targets), limits)
        outcome = await self._execute(scratch, limits, command, ro=True)
        trailer = parse_trailer(bytes(outcome.errors.head))
        code = trailer.get("exit_code", outcome.exit_code)
        return lint_report(code, bytes(outcome.capture.head), outcome.timed_out)

    def _wrap(self, command: list[str], limits: SandboxLimits) -> list[str]:
        """The command under the in-sandbox runner, which reports exit status and usage."""
        return [self._python, "-S", RUNNER, "--limit", str(limits.output_bytes), "--", *command]

    def _lint_command(self, targets: list[str]) -> list[str]:
        if self._ruff is None:
            raise SandboxError("lint needs ruff on the worker's PATH (uv sync installs it)")
        return [RUFF, *LINT_COMMAND[1:-1], *targets]

    def _site(
        self, spec: WorkspaceSpec | None
    ) -> AbstractAsyncContextManager[Path | VerificationReport | None]:
        tools = self._tools
        return deps.site(spec, self.name, self._wheel_cache, self._installs, tools, self._install)

    async def _install(self, wanted: list[str], target: Path) -> VerificationReport | None:
        """pip in a sandbox of its own, network off, the wheel cache read-only; the
        installed tree ends up at ``target``. A report when it failed."""
        assert self._wheel_cache is not None
        limits = deps.INSTALL_LIMITS
        scratch = self._prepare([])
        try:
            pip = deps.install_command(self._python, wanted, WORKDIR)
            binds = [(str(self._wheel_cache), deps.WHEELS)]
            outcome = await self._execute(scratch, limits, self._wrap(pip, limits), binds=binds)
            self._check_started(outcome)
            code = parse_trailer(bytes(outcome.errors.head)).get("exit_code", outcome.exit_code)
            output = bytes(outcome.capture.head).decode("utf-8", errors="replace")
            failed = deps.failure(self.name, code, outcome.timed_out, output, self._python)
            if failed is None:
                site = scratch.work / deps.TARGET
                await asyncio.to_thread(site.mkdir, exist_ok=True)
                await asyncio.to_thread(shutil.move, site, target)
            return failed
        finally:
            await asyncio.to_thread(shutil.rmtree, scratch.root, ignore_errors=True)

    def _report(
        self,
        request: VerifyRequest,
        suite: suites.Suite,
        outcome: Outcome,
        junit: bytes | None,
    ) -> VerificationReport:
        trailer = parse_trailer(bytes(outcome.errors.head))
        self._check_sandbox_ran(outcome, suite, junit)
        code = trailer.get("exit_code", outcome.exit_code)
        total = trailer.get("output_total")
        report = build_report(
            backend=self.name,
            framework=suite.framework,
            exit_code=code if isinstance(code, int) else outcome.exit_code,
            timed_out=outcome.timed_out,
            duration_s=outcome.duration_s,
            wall_seconds=request.limits.wall_seconds,
            output=bytes(outcome.capture.head),
            output_total=max(outcome.capture.total, total if isinstance(total, int) else 0),
            junit=junit,
        )
        return report.model_copy(update={"resources": resource_use(trailer)})

    def _prepare(self, files: list[tuple[PurePosixPath, str]]) -> Scratch:
        scratch = Scratch(Path(tempfile.mkdtemp(prefix="naestro-bwrap-")))
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
            self._identity.hand_over(scratch.work)
        except (OSError, ValueError) as exc:  # ValueError: content that is not encodable
            shutil.rmtree(scratch.root, ignore_errors=True)
            raise SandboxError(f"could not prepare the sandbox work dir: {exc}") from exc
        return scratch

    async def _execute(
        self,
        scratch: Scratch,
        limits: SandboxLimits,
        command: Sequence[str],
        *,
        ro: bool = False,
        binds: Sequence[tuple[str, str]] = (),
        env: Mapping[str, str] | None = None,
        address_space_mb: int | None = None,
    ) -> Outcome:
        group = cgroup.create(limits) if self._identity.switch else None
        try:
            info_r, info_w = os.pipe()
            filter_r = seccomp.filter_fd()
            try:
                argv = self._launcher.argv(
                    scratch.root,
                    limits,
                    command,
                    info_w,
                    seccomp_fd=filter_r,
                    ro=ro,
                    cgrouped=group is not None,
                    binds=binds,
                    env=env,
                    address_space_mb=address_space_mb,
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
        # With a cgroup: wait at the gate until the worker has moved us in.
        script = guarded(cgroup.GATE if group is not None else None)
        guard = [self._setpriv, "--pdeathsig", "KILL", "--", "/bin/sh", "-c", script, "sh"]
        try:
            proc = await asyncio.create_subprocess_exec(
                *guard,
                str(os.getpid()),
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

    @staticmethod
    def _check_started(outcome: Outcome) -> None:
        if not outcome.started and not outcome.timed_out:
            said = bytes(outcome.errors.head[:2000]).decode("utf-8", errors="replace")
            raise SandboxError(f"bwrap could not set up the sandbox: {said.strip()}")

    def _check_sandbox_ran(
        self, outcome: Outcome, suite: suites.Suite, junit: bytes | None
    ) -> None:
        """SandboxError when the sandbox, not the code under test, failed."""
        head = bytes(outcome.capture.head[:2000])
        self._check_started(outcome)
        no_pytest = f"{self._python}: No module named pytest"
        ours = suite.command[:3] == [self._python, "-m", "pytest"]
        if ours and junit is None and head.startswith(no_pytest.encode()):
            raise SandboxError(f"{no_pytest} (Debian: apt-get install python3-pytest)")
        code = parse_trailer(bytes(outcome.errors.head)).get("exit_code")
        suites.missing_runtime(suite, code if isinstance(code, int) else None, head)
