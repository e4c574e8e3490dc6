"""Verification steps. Consensus on code: verify every proposal in the sandbox, in
parallel, with the task's own examples (naestro/examples.py) beside each proposal's tests.
Proposals whose verification outcomes are identical and passing (same tests, all passed)
agree even when their text differs, so synthesis is skipped.

A task's deterministic checks (``check_answer``): its answer against an expected maths
answer or a JSON schema, in the check activity (activities/checks/) on the sandbox queue.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import Priority
from temporalio.exceptions import ActivityError, ApplicationError

from activities.checks import CheckActivities
from activities.sandbox.activity import SandboxActivities
from naestro.checkers.select import checks_for
from naestro.contracts import ConsensusRequest, TaskRequest, VerificationReport, VerifyRequest
from naestro.contracts.verify import CheckRequest, CheckResult
from naestro.examples import Example, with_examples
from naestro.parsing import extract_files
from naestro.presets import CHECK_RUN, SANDBOX_RUN


async def verify_all(
    request: ConsensusRequest,
    proposals: list[str],
    examples: list[Example] | None = None,
    first: int = 0,
) -> list[VerificationReport]:
    """One report per proposal (numbered from ``first``); none when the task is not code
    (no sandbox queue)."""
    if not request.sandbox_task_queue:
        return []
    checks = (_verify(request, first + i, p, examples or []) for i, p in enumerate(proposals))
    return list(await asyncio.gather(*checks))


async def _verify(
    request: ConsensusRequest, index: int, proposal: str, examples: list[Example]
) -> VerificationReport:
    files = with_examples(extract_files(proposal), examples)
    if not files:
        return VerificationReport(
            backend="none", passed=False, exit_code=None, summary="no code blocks to verify"
        )
    return await workflow.execute_activity_method(
        SandboxActivities.verify,
        VerifyRequest(files=files),
        task_queue=request.sandbox_task_queue,
        start_to_close_timeout=timedelta(seconds=request.verify_timeout_seconds + 30),
        heartbeat_timeout=SANDBOX_RUN.heartbeat,
        retry_policy=SANDBOX_RUN.retry,
        summary=f"verify proposal {index + 1}: {len(files)} file(s)",
        priority=Priority(priority_key=request.priority),
    )


def _outcomes(report: VerificationReport) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((t.name, t.outcome) for t in report.tests))


def same_passing_outcomes(reports: list[VerificationReport]) -> bool:
    if not reports or not all(r.passed and r.tests for r in reports):
        return False
    first = _outcomes(reports[0])
    return all(_outcomes(r) == first for r in reports[1:])


async def check_answer(
    request: TaskRequest, answer: str, task_queue: str, round_no: int
) -> list[CheckResult]:
    """The task's deterministic checks of ``answer`` (naestro/checkers/select.py: maths
    against its expected answer, JSON against its schema), in parallel on the sandbox
    queue. A check that fails is a result; the checks' machinery failing fails the task."""
    spec = request.verify
    wanted = checks_for(spec)
    if spec is None or not wanted:
        return []
    runs = (
        workflow.execute_activity_method(
            CheckActivities.answer,
            CheckRequest(
                checker=name,
                answer=answer,
                expected_answer=spec.expected_answer if name == "math" else None,
                json_schema=spec.json_schema if name == "json_schema" else None,
            ),
            task_queue=task_queue,
            start_to_close_timeout=CHECK_RUN.start_to_close,
            retry_policy=CHECK_RUN.retry,
            summary=f"check round {round_no}: {name}",
            priority=Priority(priority_key=request.priority),
        )
        for name in wanted
    )
    try:
        return list(await asyncio.gather(*runs))
    except ActivityError as err:
        raise ApplicationError(
            f"verify failed: {err.cause or err}", type="TaskFailed", non_retryable=True
        ) from err
