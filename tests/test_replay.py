"""Determinism gate: recorded TaskWorkflow histories replay on today's workflow code."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowHistory

from naestro.client import start_task
from naestro.contracts import TaskRequest
from tests.histories.recording import PREFIX
from tests.replay import history_marks, replayer
from tests.support import make_settings, replay_provider, running_workers, write_script
from tests.workflow.scripts import PROMPT, code_task_rules

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))
# Recorded before the one model-call path: never re-recorded, they prove that tasks started
# on older code still replay.
FROZEN = {"task_code_refined", "task_budget_exhausted", "consensus_task", "consensus_child"}
ONE_PATH = ["patch:naestro.one-call-path", "local:naestro.routing.route_call"]
REPORTED = [*ONE_PATH, "local:naestro.routing.report_outcomes", "local:naestro.pii.review"]
# What each history of today's generation must go through (a mark listed twice: at least
# twice), so a re-recording that silently takes another path fails here.
COVERS = {
    "task_code_refined": [
        *REPORTED,
        *["activity:naestro.sandbox.verify"] * 2,
        "call:refiner/refine",
        "call:judge/review",
        "status:succeeded",
    ],
    "task_budget_exhausted": [
        *ONE_PATH,
        "activity:naestro.sandbox.verify",
        "call:implementer/implement",
        "status:budget_exhausted",
    ],
    "task_approval": [
        *REPORTED,
        *["local:naestro.approvals.notify"] * 2,
        "update:approval:comment",
        *["update:approval:approve"] * 2,
        "timer",
        "status:succeeded",
    ],
    "task_judge_repaired": [*REPORTED, *["call:judge/review"] * 2, "status:succeeded"],
    "task_memory": [
        *REPORTED,
        "patch:naestro.memory.v1",
        "activity:naestro.memory.recall",
        "activity:naestro.memory.write_back",
        "call:refiner/refine",
        "status:succeeded",
    ],
    "task_output_review": [*REPORTED, "output_pii:EMAIL", "status:succeeded"],
    "consensus_task": [*REPORTED, "child:naestro.consensus", "status:succeeded"],
    "consensus_child": [
        "local:naestro.routing.route_call",
        "local:naestro.routing.report_outcomes",
        *["call:proposer/implement"] * 3,
        "call:judge/implement",
    ],
}


def test_histories_are_recorded() -> None:
    stems = {p.stem for p in HISTORIES}
    assert FROZEN <= stems, f"older histories are gone: {sorted(FROZEN - stems)}"
    today = {PREFIX + name for name in COVERS}
    assert today <= stems, f"not recorded (run `make histories`): {sorted(today - stems)}"
    assert stems == FROZEN | today, f"histories the gate does not know: {stems - FROZEN - today}"


@pytest.mark.parametrize("name", sorted(COVERS))
async def test_todays_histories_reach_their_paths(name: str) -> None:
    path = Path(__file__).parent / "histories" / f"{PREFIX}{name}.json"
    marks = history_marks(await asyncio.to_thread(path.read_text))
    missing = Counter(COVERS[name]) - marks
    assert not missing, f"{path.name} no longer goes through {dict(missing)}"


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, await asyncio.to_thread(path.read_text))
    result = await replayer().replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None


async def test_fresh_history_replays(client: Client, tmp_path: Path) -> None:
    script = write_script(tmp_path / "s.jsonl", code_task_rules())
    settings = make_settings(tmp_path, [replay_provider(script)])
    async with running_workers(client, settings):
        handle = await start_task(
            client, TaskRequest(prompt=PROMPT, kind="code"), task_queue=settings.queues.orchestrator
        )
        await handle.result()
    history = await handle.fetch_history()
    await replayer(client.data_converter).replay_workflow(history)
