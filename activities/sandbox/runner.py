"""The in-sandbox runner: unpack the work files, run one command, cap its output, report.

Copied into the sandbox image (``/usr/local/lib/naestro/runner.py``) and run by the
image's own python3, so it uses the standard library only. It runs as the sandbox user,
inside every limit; the host trusts nothing it says beyond what a report needs.

    python3 runner.py [--unpack] [--junit PATH] --limit BYTES -- COMMAND...

With ``--unpack`` it first reads an uncompressed tar of the work files from stdin into the
current directory. The command's stdout and stderr (merged) go to our stdout, cut after
``--limit`` bytes, but read to the end so the command never blocks on a full pipe. When the
command exits, a JSON trailer goes to our stderr: exit code (128 + signal when killed),
output bytes in total, max RSS and CPU time of the command and its waited-for children,
and with ``--junit`` the JUnit file the command wrote (a regular file of 5 MiB at most).
Background processes the command leaves behind cannot delay the end of a run: we stop
reading once the command itself is gone and the pipe is momentarily empty.
"""

from __future__ import annotations

import os
import select
import stat
import sys
from typing import Any

# Started once per sandboxed run (with ``python3 -S``): only cheap modules at the top; json,
# tarfile and pathlib load when an option needs them.

PR_SET_DUMPABLE = 4
CHUNK = 64 * 1024
MAX_JUNIT = 5 * 1024 * 1024
# Once the command is gone, a daemon it left could write forever: read this much more at most.
MAX_DRAINS_AFTER_EXIT = 64


def _undumpable() -> None:
    # Not dumpable: code running as the same user can neither ptrace us nor open
    # /proc/<our pid>/fd/2 to forge the trailer.
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


def _unpack(data: bytes) -> None:
    import io
    import tarfile
    from pathlib import PurePosixPath

    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
        for member in archive.getmembers():
            path = PurePosixPath(member.name)
            if path.is_absolute() or ".." in path.parts or not _plain(member, path):
                raise SystemExit(f"naestro runner: refusing archive member {member.name!r}")
        archive.extractall(".")


def _plain(member: Any, path: Any) -> bool:
    """A file, a directory, or a relative symlink that stays inside (a workspace's: the
    worker checked them all already; this is the second look)."""
    if member.isfile() or member.isdir():
        return True
    import posixpath

    target = member.linkname
    inside = posixpath.normpath(posixpath.join(str(path.parent), target))
    escapes = inside == ".." or inside.startswith("../")
    return bool(member.issym() and target and not target.startswith("/") and not escapes)


def _pump(pid: int, out: int, limit: int) -> int:
    """Copy at most ``limit`` bytes of the command's output to stdout; return the total."""
    total = 0
    os.set_blocking(out, False)
    pidfd = os.pidfd_open(pid)
    exited, drains = False, 0
    while drains < MAX_DRAINS_AFTER_EXIT:
        watch, wait = ([out], 0.0) if exited else ([out, pidfd], None)
        ready, _, _ = select.select(watch, [], [], wait)
        if pidfd in ready:
            exited = True
            continue
        drains += exited
        if not ready:
            break  # the command is gone and nothing is left in the pipe right now
        try:
            chunk = os.read(out, CHUNK)
        except BlockingIOError:
            continue
        if not chunk:
            break
        room = limit - total
        if room > 0:
            sys.stdout.buffer.write(chunk[:room])
            sys.stdout.buffer.flush()
        total += len(chunk)
    os.close(pidfd)
    return total


def _options(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    if "--" not in argv:
        raise SystemExit("usage: runner.py [--unpack] [--junit PATH] --limit BYTES -- COMMAND...")
    split = argv.index("--")
    options, rest = argv[:split], argv[split + 1 :]
    found: dict[str, str] = {}
    while options:
        name = options.pop(0)
        found[name] = "" if name == "--unpack" else options.pop(0)
    return found, rest


def _junit(path: str) -> str | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = file.read(MAX_JUNIT + 1)
    return data.decode("utf-8", errors="replace") if len(data) <= MAX_JUNIT else None


def _spawn(command: list[str]) -> tuple[int, int]:
    """fork + exec (no subprocess module: it costs more to import than the rest): the
    command's stdin is /dev/null, its stdout and stderr one pipe. Returns (pid, read end)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: only async-signal-safe work until exec
        try:
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(write_end, 1)
            os.dup2(write_end, 2)
            os.closerange(3, 1 << 16)
            os.execvp(command[0], command)
        except OSError as exc:
            os.write(2, f"naestro runner: cannot run {command[0]!r}: {exc}\n".encode())
        os._exit(127)
    os.close(write_end)
    return pid, read_end


def _run(command: list[str], limit: int) -> tuple[int, int, Any]:
    pid, out = _spawn(command)
    total = _pump(pid, out, limit)
    _, raw, usage = os.wait4(pid, 0)
    status = os.waitstatus_to_exitcode(raw)
    return (128 - status if status < 0 else status), total, usage


def _trailer(status: int, total: int, usage: Any, junit: str | None) -> str:
    rss, cpu = usage.ru_maxrss, round(usage.ru_utime + usage.ru_stime, 3)
    head = f'{{"exit_code": {status}, "output_total": {total}, "max_rss_kb": {rss}, '
    if junit is None:
        return head + f'"cpu_s": {cpu}, "junit": null}}'
    import json

    return head + f'"cpu_s": {cpu}, "junit": {json.dumps(junit)}}}'


def main(argv: list[str]) -> int:
    _undumpable()
    options, command = _options(argv)
    if "--unpack" in options:
        _unpack(sys.stdin.buffer.read())
    status, total, usage = _run(command, int(options.get("--limit", "65536")))
    junit = _junit(options["--junit"]) if "--junit" in options else None
    sys.stdout.flush()
    sys.stderr.write(_trailer(status, total, usage, junit) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
