"""One launched bwrap process tree: its output pumps, its two processes, their teardown.

Split out of bwrap.py: what happens between spawning ``bwrap`` and knowing every process
of the run is gone (see ``Run``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import time
from contextlib import suppress
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

_CHUNK = 64 * 1024
_KILL_GRACE_S = 5.0
_STDERR_LIMIT = 64 * 1024


@dataclass
class Capture:
    limit: int
    head: bytearray = field(default_factory=bytearray)
    total: int = 0

    async def drain(self, stream: asyncio.StreamReader) -> None:
        # Read to EOF even past the limit so the writer never blocks on a full pipe, but keep
        # only the head so the worker's memory stays flat whatever the code prints.
        while chunk := await stream.read(_CHUNK):
            self.total += len(chunk)
            room = self.limit - len(self.head)
            if room > 0:
                self.head += chunk[:room]


@dataclass
class Outcome:
    exit_code: int | None
    timed_out: bool
    duration_s: float
    started: bool  # bwrap got as far as creating the namespaces
    capture: Capture
    errors: Capture  # bwrap's own messages and the runner's JSON trailer (stderr)


def _read_child_pid(fd: int) -> int | None:
    """bwrap's --info-fd JSON ({"child-pid": N, ...}); EOF without it means setup failed."""
    with os.fdopen(fd, "rb") as info:
        data = info.read(64 * 1024)
    try:
        pid = json.loads(data).get("child-pid")
    except (ValueError, AttributeError):
        return None
    return pid if isinstance(pid, int) else None


async def _until_readable(fd: int) -> None:
    """A pidfd turns readable once its process has exited."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        loop.remove_reader(fd)


def _open_pidfd(pid: int) -> int | None:
    with suppress(ProcessLookupError):
        return os.pidfd_open(pid)
    return None


class Run:
    """One launched bwrap: its output pump, its two processes, their teardown.

    ``outer`` is bwrap itself, which exits when the command does (its exit status is the
    command's); ``inner`` is PID 1 of the sandbox, which outlives the command while any
    other sandboxed process lives and takes them all down when it dies. Both are held as
    pidfds, so signalling them cannot hit a recycled PID. Waiting on ``outer``'s pidfd
    rather than on ``proc.wait()`` matters: asyncio's wait() also waits for the output
    pipe to close, which a leftover background process could hold open.
    """

    def __init__(self, proc: asyncio.subprocess.Process, output_limit: int) -> None:
        assert proc.stdout is not None and proc.stderr is not None
        self.proc = proc
        self.capture = Capture(output_limit)
        self.errors = Capture(_STDERR_LIMIT)
        self.pump = asyncio.gather(self.capture.drain(proc.stdout), self.errors.drain(proc.stderr))
        self.outer = _open_pidfd(proc.pid)
        self.inner: int | None = None
        self.started_at = time.monotonic()

    async def complete(self, info_fd: int, wall_seconds: float) -> Outcome:
        timed_out, started = False, False
        try:
            async with asyncio.timeout(wall_seconds):
                child = await asyncio.to_thread(_read_child_pid, info_fd)
                if child is not None:
                    started, self.inner = True, _open_pidfd(child)
                if self.outer is not None:
                    await _until_readable(self.outer)
                else:  # already gone and reaped before we could open it
                    await self.proc.wait()
        except TimeoutError:
            timed_out = True
        finally:
            await self._teardown()
        duration = time.monotonic() - self.started_at
        return Outcome(
            self.proc.returncode, timed_out, duration, started, self.capture, self.errors
        )

    def _kill(self) -> None:
        # Synchronous, before any await: even a second cancellation cannot skip it. Killing
        # the sandbox's PID 1 makes the kernel kill every process in its PID namespace.
        for pidfd in (self.inner, self.outer):
            if pidfd is not None:
                with suppress(ProcessLookupError):
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)

    async def _teardown(self) -> None:
        self._kill()
        try:
            async with asyncio.timeout(_KILL_GRACE_S):
                if self.inner is not None:
                    await _until_readable(self.inner)  # the whole namespace is gone
                await self.proc.wait()
                await self.pump
        except TimeoutError:
            log.error("sandbox processes still alive %ss after SIGKILL", _KILL_GRACE_S)
            self.pump.cancel()
        finally:
            for pidfd in (self.inner, self.outer):
                if pidfd is not None:
                    os.close(pidfd)
