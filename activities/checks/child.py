"""A check's child process (``python -m activities.checks.child BUDGET_BYTES``): imports
the checkers, says ``ready``, reads one CheckRequest (a JSON line on stdin), writes its
CheckResult (a JSON line on stdout) and exits. Started by activities/checks/process.py."""

from __future__ import annotations

import ctypes
import resource
import signal
import sys

from naestro.contracts.verify import CheckRequest, CheckResult

READY = b"ready\n"
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """SIGKILL when the worker that started us dies (stdin's EOF ends us too)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _cap_memory(budget_bytes: int) -> None:
    """What the process has mapped now (the interpreter, SymPy) plus ``budget_bytes``."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        mapped = int(statm.read().split()[0]) * resource.getpagesize()
    limit = mapped + budget_bytes
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _run(request: CheckRequest) -> CheckResult:
    from naestro.checkers.run import run_check

    try:
        return run_check(request)
    except MemoryError:
        summary = f"the {request.checker} check ran out of memory: the answer is too big"
    except Exception as exc:  # a checker's bug: a failed check that says so
        summary = f"the {request.checker} checker failed: {type(exc).__name__}: {exc}"[:500]
    return CheckResult(checker=request.checker, passed=False, summary=summary)


def main() -> None:
    _die_with_parent()
    import naestro.checkers.run  # noqa: F401  # the slow imports (SymPy), before ready

    sys.stdout.buffer.write(READY)
    sys.stdout.buffer.flush()
    line = sys.stdin.buffer.readline()
    if not line:  # a spare the worker no longer needs
        return
    _cap_memory(int(sys.argv[1]))
    result = _run(CheckRequest.model_validate_json(line))
    sys.stdout.buffer.write(result.model_dump_json().encode() + b"\n")
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
