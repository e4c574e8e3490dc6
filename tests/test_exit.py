"""naestro.exit: with the Temporal bridge loaded, a process keeps its exit status, its
buffered output and its atexit handlers while skipping interpreter finalization."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = """
import atexit, sys
import temporalio.bridge.temporal_sdk_bridge
from naestro.exit import exit_after

def main():
    atexit.register(lambda: sys.stdout.write(" atexit-ran"))
    sys.stdout.write("output")  # no newline: still in the buffer when main ends
    return {mode}

exit_after(main)
"""


@pytest.mark.parametrize(
    ("mode", "status", "stderr"),
    [
        ("None", 0, ""),
        ("5", 5, ""),
        ("sys.exit(3)", 3, ""),
        ("sys.exit('no config')", 1, "no config"),
        ("1 / 0", 1, "ZeroDivisionError"),
    ],
)
def test_exit_status_output_and_atexit(mode: str, status: int, stderr: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(mode=mode)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == status, done.stderr
    assert done.stdout == "output atexit-ran"
    assert stderr in done.stderr


CLEANUP = """
import asyncio, sys
import temporalio.bridge.temporal_sdk_bridge
from naestro.exit import exit_after

async def main():
    try:
        print("ready", flush=True)
        await asyncio.sleep(60)
    finally:
        print("stopped what it started", flush=True)

exit_after(lambda: asyncio.run(main()))
"""


@pytest.mark.parametrize("sigint", ["default", "ignored"])
def test_sigterm_unwinds_like_ctrl_c(sigint: str) -> None:
    """Also when SIGINT is ignored (`cmd &` in a non-interactive shell starts it so)."""
    ignore = sigint == "ignored"
    process = subprocess.Popen(
        [sys.executable, "-c", CLEANUP],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignore else None,
    )
    assert process.stdout is not None and process.stdout.readline() == "ready\n"
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=60)
    assert "stopped what it started" in out
    assert process.returncode == 130
