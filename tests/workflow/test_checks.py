"""TaskWorkflow's deterministic checks end to end on a real dev server: a maths answer
checked against the expected one (wrong, then right after a refine round fed the check's
summary; wrong to the end), and a JSON answer against a schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from temporalio.client import Client

from naestro.client import start_task
from naestro.config.settings import Settings
from naestro.contracts import Budget, TaskRequest, TaskResult
from naestro.contracts.verify import VerifySpec
from tests.support import (
    make_settings,
    recorded_requests,
    replay_provider,
    running_workers,
    write_script,
)
from tests.workflow.scripts import verdict

QUESTION = "What is six times seven?"
WRONG, RIGHT = "6 x 7 is \\boxed{41}.", "Six sevens: 7 + 7 + 7 + 7 + 7 + 7 = \\boxed{6 \\cdot 7}."
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
    "required": ["name", "age"],
}
NO_PLAN = {"plan": False}


def _settings(tmp_path: Path, rules: list[dict[str, Any]]) -> Settings:
    script = write_script(tmp_path / "script.jsonl", rules)
    record = str(tmp_path / "sent.jsonl")
    return make_settings(tmp_path, [replay_provider(script, record=record)], NO_PLAN)


async def _run(client: Client, settings: Settings, request: TaskRequest) -> TaskResult:
    async with running_workers(client, settings):
        handle = await start_task(client, request, task_queue=settings.queues.orchestrator)
        return await handle.result()


async def test_a_wrong_maths_answer_is_refined_until_the_check_passes(
    client: Client, tmp_path: Path
) -> None:
    rules = [
        {"phase": "refine", "contains": "math check failed", "text": RIGHT},
        {"phase": "implement", "text": WRONG},
        {"role": "judge", "text": verdict(0.9)},
    ]
    settings = _settings(tmp_path, rules)
    request = TaskRequest(prompt=QUESTION, kind="math", verify=VerifySpec(expected_answer="42"))
    result = await _run(client, settings, request)
    assert result.status == "succeeded", result.reason
    assert result.rounds == 1
    assert [(c.checker, c.passed) for c in result.checks] == [("math", True)]
    assert result.checks[0].details["method"] == "identical"
    report = result.verification
    assert report is not None and report.passed and report.backend == "checks"
    assert [t.name for t in report.tests] == ["check:math"]
    assert result.confidence is not None and result.confidence > 0.9  # judge + check
    sent = recorded_requests(tmp_path / "sent.jsonl")
    refine = next(r for r in sent if r.phase == "refine").messages[-1].content
    assert "'41'" in refine and "is not the expected answer" in refine
    assert "42" not in refine  # the expected answer never reaches a model
    assert [r.role for r in sent] == ["implementer", "refiner", "judge"]  # no judge on 41


async def test_a_maths_answer_that_stays_wrong_ends_unverified(
    client: Client, tmp_path: Path
) -> None:
    rules = [
        {"phase": "implement", "text": WRONG},
        {"phase": "refine", "text": "Then it is \\boxed{43}."},
        {"role": "judge", "text": verdict(0.9)},
    ]
    settings = _settings(tmp_path, rules)
    request = TaskRequest(
        prompt=QUESTION,
        kind="math",
        budget=Budget(max_refine_rounds=1),
        verify=VerifySpec(expected_answer="42"),
    )
    result = await _run(client, settings, request)
    assert result.status == "unverified", result.reason
    assert [(c.checker, c.passed) for c in result.checks] == [("math", False)]
    assert result.verification is not None and not result.verification.passed
    assert "math check failed" in result.verification.summary
    assert result.verdict is None  # an answer failing its check is not judged
    assert result.confidence == 0.0


async def test_json_answers_are_checked_against_the_schema(client: Client, tmp_path: Path) -> None:
    bad = '```json\n{"name": "Ada", "age": -3}\n```'
    good = '```json\n{"name": "Ada", "age": 36}\n```'
    rules = [
        {"phase": "refine", "contains": "$.age", "text": good},
        {"phase": "implement", "text": bad},
        {"role": "judge", "text": verdict(0.8)},
    ]
    settings = _settings(tmp_path, rules)
    request = TaskRequest(
        prompt="Describe Ada Lovelace as JSON.", verify=VerifySpec(json_schema=SCHEMA)
    )
    result = await _run(client, settings, request)
    assert result.status == "succeeded", result.reason
    assert result.rounds == 1
    assert [(c.checker, c.passed) for c in result.checks] == [("json_schema", True)]
    assert json.loads(result.answer.strip("`json\n")) == {"name": "Ada", "age": 36}
    sent = recorded_requests(tmp_path / "sent.jsonl")
    refine = next(r for r in sent if r.phase == "refine").messages[-1].content
    assert "-3 is less than the minimum of 0" in refine
    assert '"required"' in refine  # the schema itself, for the refiner to follow
