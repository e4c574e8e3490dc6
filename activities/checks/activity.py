"""CheckActivities: ``naestro.check.answer``, one deterministic check of an answer.

Registered on the sandbox worker (workers/sandbox.py): like a sandbox run it is CPU-bound
work on what a model wrote, bounded by that queue's concurrency and kept off the
orchestrator, whose event loop runs workflow tasks. A check that fails, times out or
crashes is a failed CheckResult (its summary says which), never an activity error: only
the machinery failing (no child process could start) raises, and Temporal retries it.
"""

from __future__ import annotations

import time

from temporalio import activity

from activities.checks.process import CheckProcesses
from naestro.contracts.verify import CheckRequest, CheckResult

MEMORY_MB = 1024  # what a check may map beyond the interpreter and its imports


class CheckActivities:
    def __init__(self, memory_mb: int = MEMORY_MB) -> None:
        self._processes = CheckProcesses(memory_mb)

    @activity.defn(name="naestro.check.answer")
    async def answer(self, request: CheckRequest) -> CheckResult:
        """Run the request's checker on its answer within its timeout."""
        started = time.monotonic()
        result = await self._processes.run(request)
        activity.logger.info(
            "check %s: %s in %.2fs",
            request.checker,
            "passed" if result.passed else "failed",
            time.monotonic() - started,
        )
        return result

    async def aclose(self) -> None:
        """Stop the spare check process (the worker is going)."""
        await self._processes.aclose()
