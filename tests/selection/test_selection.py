"""Verification by the task's own examples, the judge only on doubt, and proposals
selected by their tests: TaskWorkflow and ConsensusWorkflow on a real dev server, real
sandboxes, scripted replies at the provider."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from temporalio.client import Client

from naestro.client import start_task
from naestro.contracts import TaskRequest, TaskResult
from naestro.examples import EXAMPLES_FILE
from tests.consensus.scripts import consensus_settings, text, verdict
from tests.support import make_settings, replay_provider, running_workers, write_script

PROMPT = '''Complete this function.

```python
def add(a: int, b: int) -> int:
    """The sum of a and b.
    >>> add(2, 3)
    5
    >>> add(-1, 1)
    0
    """
```
'''
BUGGY = "```python\n# file: solution.py\ndef add(a: int, b: int) -> int:\n    return a - b\n```"
FIXED = "```python\n# file: solution.py\ndef add(a: int, b: int) -> int:\n    return a + b\n```"
OFF_BY_ONE = FIXED.replace("a + b", "a + b + 1")
LEAN = {"plan": False, "write_tests": False, "review": "unverified", "temperature": 0.0}


async def _run(
    client: Client, queue: str, prompt: str = PROMPT, budget: dict[str, Any] | None = None
) -> TaskResult:
    request = TaskRequest.model_validate({"prompt": prompt, "kind": "code", "budget": budget or {}})
    handle = await start_task(client, request, task_queue=queue)
    return await handle.result()


def _example_tests(result: TaskResult) -> list[str]:
    assert result.verification is not None
    return [t.name for t in result.verification.tests if EXAMPLES_FILE[:-3] in t.name]


async def test_examples_verify_code_and_the_judge_is_asked_only_on_doubt(
    client: Client, tmp_path: Path
) -> None:
    rules = [
        {"phase": "implement", "text": BUGGY},
        {"phase": "refine", "contains": "test_example_1", "text": FIXED},
        {"role": "judge", "text": verdict(0.9)},
    ]
    script = write_script(tmp_path / "script.jsonl", rules)
    settings = make_settings(tmp_path, [replay_provider(script)], policy=LEAN)
    async with running_workers(client, settings):
        result = await _run(client, settings.queues.orchestrator)

    assert result.status == "succeeded", result.reason
    # No plan; the draft failed the task's examples (the refine prompt named them), the
    # revision passed them, and no judge was asked about code its tests verified.
    assert [(c.phase, c.role) for c in result.trace] == [
        ("implement", "implementer"),
        ("refine", "refiner"),
    ]
    assert len(_example_tests(result)) == 2
    assert "a + b" in result.answer and result.verdict is None
    assert {a.name for a in result.artifacts} == {"solution.py"}  # not the generated tests
    assert result.confidence == 1.0


async def test_resample_draws_afresh_and_keeps_the_best_answer(
    client: Client, tmp_path: Path
) -> None:
    half = FIXED.replace("return a + b", "return 5 if a == 2 else 99")  # one example of two
    rules = [
        {"phase": "implement", "text": half},
        # A revision prompt would carry the failing answer: a fresh draw must not.
        {"phase": "refine", "contains": "Previous attempt", "text": FIXED},
        {"phase": "refine", "text": BUGGY},  # worse than the first: no gate may stop here
    ]
    script = write_script(tmp_path / "script.jsonl", rules)
    record = tmp_path / "requests.jsonl"
    provider = replay_provider(script, record=str(record))
    policy = {**LEAN, "refine": "resample", "resample_temperature": 0.7}
    settings = make_settings(tmp_path, [provider], policy=policy)
    async with running_workers(client, settings):
        queue = settings.queues.orchestrator
        result = await _run(client, queue, budget={"max_refine_rounds": 2})

    assert result.status == "unverified" and result.rounds == 2, result.reason
    assert [(c.phase, c.role) for c in result.trace] == [
        ("implement", "implementer"),
        ("refine", "implementer"),
        ("refine", "implementer"),
    ]
    assert "5 if a == 2" in result.answer  # the best of three draws, not the last
    sent = [json.loads(line) for line in record.read_text().splitlines()]
    assert [r["temperature"] for r in sent] == [0.0, 0.7, 0.7]
    assert sent[1]["messages"] == sent[2]["messages"] == sent[0]["messages"]


def _panel(p1: str, p2: str, p3: str, judge: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "planner": text(FIXED),
        "p1": text(p1),
        "p2": text(p2),
        "p3": text(p3),
        "c1": text("{}"),
        "synth": text("unused"),
        "judge": judge,
    }


ROLES = {
    "planner": ["planner"],
    "implementer": ["planner"],
    "refiner": ["planner"],
    "judge": ["judge"],
    "proposer": ["p1", "p2", "p3"],
    "critic": ["c1"],
    "synthesizer": ["synth"],
}
BY_TESTS = {"critics": 0, "max_rounds": 1, "selection": "tests"}


async def _adaptive(
    client: Client, tmp_path: Path, p1: str, p2: str, p3: str, prompt: str = PROMPT
) -> TaskResult:
    """One task under adaptive selection by tests, the proposers answering p1, p2, p3."""
    scripts = _panel(p1, p2, p3, text(verdict(0.9)))
    settings = consensus_settings(
        tmp_path, scripts, ROLES, consensus={**BY_TESTS, "adaptive": True}, **LEAN
    )
    async with running_workers(client, settings):
        return await _run(client, settings.queues.orchestrator, prompt)


async def test_adaptive_draws_more_only_when_the_first_fails_and_tests_select(
    client: Client, tmp_path: Path
) -> None:
    result = await _adaptive(client, tmp_path, BUGGY, FIXED, OFF_BY_ONE)

    assert result.status == "succeeded", result.reason
    assert [c.provider for c in result.trace if c.role == "proposer"][0] == "p1"
    assert sorted(c.provider for c in result.trace if c.role == "proposer") == ["p1", "p2", "p3"]
    assert result.consensus is not None
    assert result.consensus.early_exit.startswith("selected by tests (1.00) from 3")
    assert "return a + b\n" in result.answer
    assert not [c for c in result.trace if c.role in ("judge", "synthesizer", "critic")]


async def test_adaptive_stops_at_a_first_proposal_that_passes(
    client: Client, tmp_path: Path
) -> None:
    result = await _adaptive(client, tmp_path, FIXED, BUGGY, BUGGY)

    assert result.status == "succeeded", result.reason
    assert [(c.role, c.provider) for c in result.trace] == [("proposer", "p1")]
    assert result.spend.model_calls == 1


async def test_adaptive_draws_no_more_when_the_first_holds_no_test(
    client: Client, tmp_path: Path
) -> None:
    # No examples in the task and no tests in the code: nothing failed, so no more draws;
    # the task's judge decides about the one proposal, as it would about one call.
    result = await _adaptive(client, tmp_path, FIXED, BUGGY, BUGGY, "Write add(a, b).")

    assert result.status == "succeeded", result.reason
    # The deliberation's judge verdict is the task's: the judge is asked once.
    assert [(c.role, c.provider) for c in result.trace] == [
        ("proposer", "p1"),
        ("judge", "judge"),
    ]
    assert result.verdict is not None and result.verdict.score == 0.9


async def test_the_judge_picks_among_proposals_the_tests_tie(
    client: Client, tmp_path: Path
) -> None:
    choice = json.dumps({"proposal": 2, "rationale": "closer"})
    judge = [
        {"contains": "did equally well", "text": choice},
        {"text": verdict(0.9)},
    ]
    # Each fails one of the two examples: tied. The judge picks the second of the tied.
    half_a = FIXED.replace("return a + b", "return 5 if a == 2 else 99")
    half_b = FIXED.replace("return a + b", "return 0 if a == -1 else 99")
    scripts = {**_panel(half_a, half_b, BUGGY, judge), "planner": [{"text": FIXED}]}
    settings = consensus_settings(tmp_path, scripts, ROLES, consensus=BY_TESTS, **LEAN)
    async with running_workers(client, settings):
        handle = await start_task(
            client,
            TaskRequest(prompt=PROMPT, kind="code"),
            task_queue=settings.queues.orchestrator,
        )
        result = await handle.result()

    assert result.consensus is not None
    assert result.consensus.early_exit == "tests tied (0.50) across 2: the judge chose"
    assert result.status == "succeeded", result.reason  # the refiner fixed the pick
    refine = [c for c in result.trace if c.phase == "refine"]
    assert len(refine) == 1
    child = client.get_workflow_handle(f"{handle.id}-consensus-implement-0")
    chosen = await child.result()
    assert "0 if a == -1" in chosen["answer"]


async def test_code_without_any_test_goes_to_the_judge_not_to_refine(
    client: Client, tmp_path: Path
) -> None:
    rules = [
        {"phase": "implement", "text": FIXED},  # no tests, and the task shows no examples
        {"role": "judge", "text": verdict(0.9)},
    ]
    script = write_script(tmp_path / "script.jsonl", rules)
    settings = make_settings(tmp_path, [replay_provider(script)], policy=LEAN)
    async with running_workers(client, settings):
        prompt = "Write add(a, b) returning the sum."
        result = await _run(client, settings.queues.orchestrator, prompt)

    assert result.status == "succeeded", result.reason
    assert [(c.phase, c.role) for c in result.trace] == [
        ("implement", "implementer"),
        ("review", "judge"),
    ]
    assert result.verification is not None and "no tests collected" in result.verification.summary
    assert result.verdict is not None and result.verdict.score == 0.9
