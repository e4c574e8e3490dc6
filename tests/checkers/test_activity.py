"""The check activity through ActivityEnvironment: a check in a child process, a runaway
one stopped at its deadline, the spare process gone with the worker."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from temporalio.testing import ActivityEnvironment

from activities.checks import CheckActivities
from naestro.contracts.verify import CheckRequest


@pytest.fixture
async def checks() -> AsyncIterator[CheckActivities]:
    activities = CheckActivities()
    yield activities
    await activities.aclose()


async def test_checks_run_in_a_child_process(checks: CheckActivities) -> None:
    env = ActivityEnvironment()
    maths = CheckRequest(checker="math", answer="\\boxed{2\\sqrt2}", expected_answer="sqrt(8)")
    result = await env.run(checks.answer, maths)
    assert result.passed and result.checker == "math", result.summary
    schema = CheckRequest(checker="json_schema", answer="[1]", json_schema={"type": "object"})
    result = await env.run(checks.answer, schema)
    assert not result.passed and "is not of type 'object'" in result.summary


async def test_a_runaway_check_is_stopped_at_its_deadline(checks: CheckActivities) -> None:
    env = ActivityEnvironment()
    await env.run(checks.answer, CheckRequest(checker="math", answer="1", expected_answer="1"))
    slow = CheckRequest(
        checker="json_schema",
        answer='{"a": "' + "a" * 40 + '!"}',
        json_schema={"properties": {"a": {"pattern": "^(a+)+$"}}},  # catastrophic backtracking
        timeout_seconds=1,
    )
    started = time.monotonic()
    result = await env.run(checks.answer, slow)
    assert time.monotonic() - started < 10
    assert not result.passed
    assert result.summary == (
        "the json_schema check did not finish within 1s: the answer is too hard to check"
    )
    after = CheckRequest(checker="math", answer="\\boxed{3}", expected_answer="3")
    assert (await env.run(checks.answer, after)).passed  # the next check has a fresh child


async def test_the_spare_process_goes_with_the_worker() -> None:
    checks = CheckActivities()
    await ActivityEnvironment().run(
        checks.answer, CheckRequest(checker="math", answer="1", expected_answer="1")
    )
    spare = checks._processes._spare
    assert spare is not None
    child = await spare
    await checks.aclose()
    assert child.returncode is not None
