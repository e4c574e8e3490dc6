"""A pids + memory cgroup per bubblewrap run, where the host offers one (root, v1 or v2).

RLIMIT_NPROC counts every process of the sandbox user on the host, so concurrent runs
share it; a cgroup caps one run alone, and lets the worker kill every process of a run in
one sweep. The launcher is gated (it waits on its stdin) until the worker has moved it into
the cgroup, so nothing sandboxed ever runs outside it. Without a usable hierarchy (not
root, or a host that does not delegate the controllers) runs go on with rlimits only.
"""

from __future__ import annotations

import logging
import os
import signal
import uuid
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from naestro.contracts import SandboxLimits

log = logging.getLogger(__name__)

ROOT = Path("/sys/fs/cgroup")
PARENT = "naestro-sandbox"
# The launcher's wait for the worker's go (EOF without it: give up), after its guard.
GATE = "read -r go || exit 125"


@dataclass(frozen=True)
class RunCgroup:
    dirs: tuple[Path, ...]

    def add(self, pid: int) -> None:
        for directory in self.dirs:
            (directory / "cgroup.procs").write_text(f"{pid}\n")

    def kill_and_remove(self) -> None:
        """SIGKILL whatever is still inside, then remove the cgroup dirs."""
        for directory in self.dirs:
            with suppress(OSError):
                for pid in (directory / "cgroup.procs").read_text().split():
                    with suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)
        for directory in self.dirs:
            with suppress(OSError):
                directory.rmdir()  # fails while a dying process is still listed: harmless


def _write(path: Path, value: str) -> None:
    path.write_text(value)


def _v1(limits: SandboxLimits, name: str) -> tuple[Path, ...]:
    pids = ROOT / "pids" / PARENT / name
    memory = ROOT / "memory" / PARENT / name
    made = RunCgroup((pids, memory))
    try:
        for directory in made.dirs:
            directory.mkdir(parents=True)
        _write(pids / "pids.max", str(limits.processes + 3))
        _write(memory / "memory.limit_in_bytes", str(limits.memory_mb * 1024 * 1024))
    except OSError:
        made.kill_and_remove()
        raise
    return made.dirs


def _v2(limits: SandboxLimits, name: str) -> tuple[Path, ...]:
    parent = ROOT / PARENT
    parent.mkdir(exist_ok=True)
    for level in (ROOT, parent):
        _write(level / "cgroup.subtree_control", "+pids +memory")
    run = parent / name
    run.mkdir()
    _write(run / "pids.max", str(limits.processes + 3))
    _write(run / "memory.max", str(limits.memory_mb * 1024 * 1024))
    with suppress(OSError):
        _write(run / "memory.swap.max", "0")
    return (run,)


def create(limits: SandboxLimits) -> RunCgroup | None:
    """A fresh cgroup for one run, or None when this host gives us none."""
    if os.geteuid() != 0:
        return None
    name = uuid.uuid4().hex[:12]
    try:
        if (ROOT / "pids" / "cgroup.procs").exists() and (ROOT / "memory").is_dir():
            return RunCgroup(_v1(limits, name))
        if (ROOT / "cgroup.controllers").exists():
            return RunCgroup(_v2(limits, name))
    except OSError as exc:
        log.debug("no sandbox cgroup (%s): rlimits only", exc)
    return None
