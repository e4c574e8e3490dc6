"""Children that die with the process that started them, and leftovers found on a restart.

A server we start (the Temporal dev server, the embedded Postgres) runs under a watchdog:
``python naestro/watchdog.py --parent PID --signal INT -- CMD...``. The watchdog starts
CMD as its own child with ``PR_SET_PDEATHSIG`` (so CMD gets the stop signal if the watchdog
dies, even by SIGKILL), watches PID through a pidfd (a process, not the thread that
spawned it, which ``PR_SET_PDEATHSIG`` would follow), and stops CMD when PID ends. It sits
in a session of its own: a terminal's Ctrl-C reaches the parent, which stops its servers
in order. Postgres is the watchdog's child itself, not daemonized by pg_ctl, so the signal
reaches the postmaster.

Run as a script by path: it imports only the standard library.
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import logging
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

log = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
STOP_GRACE_SECONDS = 15.0  # a server's own shutdown, before SIGKILL
_libc = ctypes.CDLL(None, use_errno=True)


def die_with_parent(sig: int) -> None:
    """In a child before exec: the kernel sends ``sig`` when its parent thread ends."""
    if _libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")


def command(
    parent: int,
    stop_signal: signal.Signals,
    argv: Sequence[str],
    *,
    pidfile: Path | None = None,
    user: str | None = None,
) -> list[str]:
    """The command line that runs ``argv`` under a watchdog of ``parent``."""
    line = [sys.executable, str(Path(__file__).resolve()), "--parent", str(parent)]
    line += ["--signal", stop_signal.name]
    if pidfile is not None:
        line += ["--pidfile", str(pidfile)]
    if user is not None:
        line += ["--user", user]
    return [*line, "--", *argv]


# Leftovers: processes of a previous run, found by what their command line names.


def cmdline(pid: int) -> list[str]:
    """A process's argv ([] when it is gone or unreadable)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def naming(marker: str) -> Iterator[int]:
    """Processes (not this one) whose argv has ``marker`` as one argument."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            if marker in cmdline(int(entry.name)):
                yield int(entry.name)


def read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def alive(pid: int) -> bool:
    """Running (a zombie, ended but not yet reaped, is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(errors="replace")
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[:1] != ["Z"]


def stop(pid: int, sig: int = signal.SIGTERM, grace: float = STOP_GRACE_SECONDS) -> None:
    """Send ``sig``; SIGKILL what still runs after ``grace`` seconds."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    finish(pid, grace)


def finish(pid: int, grace: float = STOP_GRACE_SECONDS) -> None:
    """Wait for a process that was told to stop; SIGKILL it after ``grace`` seconds."""
    deadline = time.monotonic() + grace
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if alive(pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return


class OwnerLock:
    """An exclusive flock on ``path``, held while a process owns a server (its data dir).
    The kernel drops it when the owner dies, however it dies: a held lock means a live
    owner, a free one means whatever still runs there is a leftover."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def holder(self) -> int | None:
        return read_pid(self.path)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


# The watchdog itself (`python naestro/watchdog.py ...`).


def _watch(parent_fd: int, child: subprocess.Popen[bytes]) -> bool:
    """Wait until the child ends (True) or the parent does (False)."""
    child_fd = os.pidfd_open(child.pid)
    poller = select.poll()
    poller.register(parent_fd, select.POLLIN)
    poller.register(child_fd, select.POLLIN)
    try:
        while True:
            for fd, _ in poller.poll():
                return fd == child_fd
    finally:
        os.close(child_fd)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Run a command that dies with --parent.")
    p.add_argument("--parent", type=int, required=True)
    p.add_argument("--signal", default="TERM", help="how to stop the command: TERM, INT...")
    p.add_argument("--pidfile", type=Path, default=None)
    p.add_argument("--user", default=None, help="run the command as this user")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    stop_signal = signal.Signals["SIG" + args.signal.removeprefix("SIG")]
    try:
        parent_fd = os.pidfd_open(args.parent)
    except ProcessLookupError:
        return 1
    if os.getppid() != args.parent:
        return 1  # the parent ended before we could watch it
    if os.getpid() != os.getpgid(0):
        os.setsid()  # the terminal's Ctrl-C goes to the parent, which stops us in order
    child = subprocess.Popen(cmd, user=args.user, preexec_fn=lambda: die_with_parent(stop_signal))
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: child.send_signal(stop_signal))
    if args.pidfile is not None:
        args.pidfile.write_text(f"{child.pid}\n")
    try:
        if not _watch(parent_fd, child):  # the parent is gone: stop the command
            child.send_signal(stop_signal)
            try:
                child.wait(STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                child.kill()
        return child.wait()
    finally:
        if args.pidfile is not None:
            args.pidfile.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
