"""Each check in a child process of its own: killed at its deadline, capped in memory,
dead with the worker.

SymPy's parser and simplifier and a schema's regular expressions can run for ever on
hostile input, and a thread cannot be stopped; a process can. A child runs one check and
exits, so a kill loses nothing. SymPy takes about a second to import, so one spare child
is kept started and ready (imports done): a check starts at once, and the next spare
starts behind it. The deadline counts from the request, never from the child's imports.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from asyncio.subprocess import PIPE, Process
from pathlib import Path

from activities.checks.child import READY
from naestro.contracts.verify import CheckRequest, CheckResult
from naestro.errors import NaestroError

START_TIMEOUT_S = 120.0  # a child's imports, on a slow or busy machine
_ROOT = str(Path(__file__).resolve().parents[2])  # where `activities` and `naestro` live


class CheckProcessError(NaestroError):
    """No child process could be started for a check (Temporal retries the activity)."""


def _failed(request: CheckRequest, summary: str) -> CheckResult:
    return CheckResult(checker=request.checker, passed=False, summary=summary)


async def _kill(child: Process) -> None:
    if child.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            child.kill()
    await child.wait()


class CheckProcesses:
    """Child processes for checks, one spare kept ready."""

    def __init__(self, memory_mb: int) -> None:
        self._budget = str(memory_mb * 1024 * 1024)
        self._spare: asyncio.Task[Process] | None = None

    async def _start(self) -> Process:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([_ROOT, *sys.path])}
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "activities.checks.child",
            self._budget,
            stdin=PIPE,
            stdout=PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env=env,
        )
        assert child.stdout is not None
        try:
            line = await asyncio.wait_for(child.stdout.readline(), START_TIMEOUT_S)
        except TimeoutError:
            line = b""
        if line != READY:
            await _kill(child)
            raise CheckProcessError(f"a check process did not start (exit {child.returncode})")
        return child

    async def _take(self) -> Process:
        """The spare (or a new child when it died or failed), and a new spare behind it."""
        spare, self._spare = self._spare, None
        child: Process | None = None
        if spare is not None:
            with contextlib.suppress(CheckProcessError):
                child = await spare
        if child is None or child.returncode is not None:
            child = await self._start()
        self._spare = asyncio.create_task(self._start())
        return child

    async def run(self, request: CheckRequest) -> CheckResult:
        """``request`` in a child; a failed result when it overruns its timeout or dies."""
        child = await self._take()
        assert child.stdin is not None and child.stdout is not None
        try:
            child.stdin.write(request.model_dump_json().encode() + b"\n")
            await child.stdin.drain()
            line = await asyncio.wait_for(child.stdout.readline(), request.timeout_seconds)
        except TimeoutError:
            return _failed(
                request,
                f"the {request.checker} check did not finish within "
                f"{request.timeout_seconds:g}s: the answer is too hard to check",
            )
        except (BrokenPipeError, ConnectionResetError):
            line = b""
        finally:
            await _kill(child)
        if not line:
            return _failed(request, f"the {request.checker} check died (exit {child.returncode})")
        return CheckResult.model_validate_json(line)

    async def aclose(self) -> None:
        spare, self._spare = self._spare, None
        if spare is None:
            return
        spare.cancel()
        with contextlib.suppress(asyncio.CancelledError, CheckProcessError):
            await _kill(await spare)
