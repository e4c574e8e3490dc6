"""Determinism gate: recorded histories of every workflow type replay on today's workflow
code where the generation rule says they must (tests/replay.py ``replay_gate``), today's go
through the paths they were recorded for, and every patched path has one."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest
from temporalio.client import Client

from naestro.client import start_task
from naestro.contracts import TaskRequest
from tests.histories.recording import PREFIX
from tests.patches import patch_calls
from tests.replay import history_marks, replay_gate, replayer
from tests.support import make_settings, replay_provider, running_workers, write_script
from tests.workflow.scripts import PROMPT, code_task_rules

HERE = Path(__file__).parent / "histories"
HISTORIES = sorted(HERE.glob("*.json"))
# Generation 1, recorded before the one model-call path: never re-recorded. Their types are
# pinned, so the gate exempts them now (their tasks finish on workers of their own version);
# they stay as what that generation ran, and replay if the rule ever asks again.
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
    "task_subtasks": [
        *REPORTED,
        "patch:naestro.subtasks",
        *["child:naestro.task"] * 4,  # a, a re-planned, b, c
        *["call:planner/plan"] * 2,  # the plan, the re-plan
        "call:implementer/implement",  # the integration
        "status:succeeded",
    ],
    "task_examples": [
        *REPORTED,
        "patch:naestro.task-examples",
        *["activity:naestro.sandbox.verify"] * 2,
        "call:implementer/implement",
        "call:refiner/refine",
        "status:succeeded",
    ],
    # the draft's maths answer fails its check, the revision's passes, the judge accepts
    "task_math_checked": [
        *REPORTED,
        "patch:naestro.checkers",
        *["activity:naestro.check.answer"] * 2,
        "call:refiner/refine",
        "call:judge/review",
        "status:succeeded",
    ],
    # the implementer calls an MCP tool (discovered first) and one it may not (refused),
    # then answers with the tool's result
    "task_tools": [
        *REPORTED,
        "patch:naestro.tools",
        "activity:naestro.tools.list",
        "activity:naestro.tools.call",
        *["local:naestro.pii.scan"] * 2,  # the prompt, the call's arguments
        *["call:implementer/implement"] * 2,
        "status:succeeded",
    ],
    # the tool's result holds an email: scanned, so the (cloud) model reads a placeholder
    "task_tool_result_pii": [
        *REPORTED,
        "patch:naestro.tools",
        "patch:naestro.tools.result-pii",
        "activity:naestro.tools.call",
        *["local:naestro.pii.scan"] * 3,  # the prompt, the call's arguments, its result
        *["call:implementer/implement"] * 2,
        "status:succeeded",
    ],
    "task_free_calls": [
        *REPORTED,
        "patch:naestro.fewer-upserts",
        *["call:planner/plan", "call:implementer/implement", "call:judge/review"],
        "status:succeeded",
    ],
    "task_wait_for_provider": [
        *REPORTED,
        "patch:naestro.wait-for-provider",
        "timer",
        *["call:planner/plan"] * 2,
        "status:succeeded",
    ],
    "consensus_task": [
        *REPORTED,
        "patch:naestro-consensus-v1",
        "child:naestro.consensus",
        "patch:naestro.reuse-consensus-verdict",
        "status:succeeded",
    ],
    "consensus_child": [
        "local:naestro.routing.route_call",
        "local:naestro.routing.report_outcomes",
        *["call:proposer/implement"] * 3,
        "call:judge/implement",
    ],
    # No plan, and the deliberation's verdict is reused: the task itself calls no model.
    "consensus_adaptive_task": [
        "patch:naestro.one-call-path",
        "patch:naestro.task-examples",
        "child:naestro.consensus",
        "activity:naestro.sandbox.verify",
        "patch:naestro.reuse-consensus-verdict",
        "status:succeeded",
    ],
    "consensus_adaptive_child": [
        "patch:naestro.task-examples",
        "call:proposer/implement",
        "activity:naestro.sandbox.verify",
        "patch:naestro.adaptive-no-tests",
        "call:judge/implement",
    ],
    "consensus_budget_task": [*ONE_PATH, "child:naestro.consensus", "status:budget_exhausted"],
    "consensus_budget_child": [
        "patch:naestro.consensus-spent-on-failure",
        "failed:BudgetExhausted",
    ],
    "verify": ["activity:naestro.sandbox.verify"],
    "ingest": ["activity:naestro.memory.ingest"],
    "pii_calibration": ["activity:naestro.pii.calibrate"],
    "rollout": [
        *["activity:naestro.rollout.route"] * 2,  # the ramp, then the promotion
        *["activity:naestro.rollout.measure"] * 2,
        "timer",
        "update:rollout_command:approve",
    ],
    # the background job's grant, the foreground's (by preemption), the background's again
    "gpu_pool": [
        *["update:gpu_acquire"] * 3,
        "update:gpu_watch",
        *["update:gpu_release"] * 3,
        "timer",
    ],
    "gpu_job": ["activity:naestro.gpu.run_job"],
    # a research job's first run: two iterations, the cadence timer a new question ended,
    # then continue-as-new
    "research": [
        "local:naestro.routing.resolve_policy",
        *["local:naestro.pii.scan"] * 2,  # the goal, then with the new question
        *["activity:naestro.memory.search"] * 2,
        *["call:implementer/gather"] * 2,
        *["activity:naestro.research.save_findings"] * 2,
        *["call:judge/progress"] * 2,
        "timer",
        "update:research_steer:add_question",
        "continued_as_new",
    ],
}
# Where a case that reaches a patched path is added, by the module that calls `patched`.
RECORDERS = {
    "workflows/consensus.py": "a Deliberation in tests/histories/record_consensus.py",
    "workflows/steps/deliberate.py": "a Deliberation in tests/histories/record_consensus.py",
    "workflows/task.py": "a Case in tests/histories/record.py",
    "workflows/rollout.py": "tests/histories/record_rollout.py",
    "workflows/steps": "a Case in tests/histories/record.py (or record_consensus.py)",
}


def test_histories_are_recorded() -> None:
    stems = {p.stem for p in HISTORIES}
    assert FROZEN <= stems, f"older histories are gone: {sorted(FROZEN - stems)}"
    today = {PREFIX + name for name in COVERS}
    assert today <= stems, f"not recorded (run `make histories`): {sorted(today - stems)}"
    assert stems == FROZEN | today, f"histories the gate does not know: {stems - FROZEN - today}"


@pytest.mark.parametrize("name", sorted(COVERS))
async def test_todays_histories_reach_their_paths(name: str) -> None:
    path = HERE / f"{PREFIX}{name}.json"
    marks = history_marks(await asyncio.to_thread(path.read_text))
    missing = Counter(COVERS[name]) - marks
    assert not missing, f"{path.name} no longer goes through {dict(missing)}"


def _recorder_for(where: str) -> str:
    for prefix, recorder in RECORDERS.items():
        if where.startswith(prefix):
            return recorder
    return "a Run in tests/histories/record_workflows.py"


def test_every_patched_path_is_in_a_history_of_today() -> None:
    calls = patch_calls()
    unresolved = [f"{c.where}: {c.source}" for c in calls if c.id is None]
    assert not unresolved, f"patch ids must be string constants: {unresolved}"
    today = HERE.glob(f"{PREFIX}*.json")
    covered = set().union(*(history_marks(p.read_text()) for p in today))
    missing: dict[str, list[str]] = {}
    for call in calls:
        if f"patch:{call.id}" not in covered:
            missing.setdefault(str(call.id), []).append(call.where)
    assert not missing, f"no {PREFIX}* history takes these patched paths:\n" + "\n".join(
        f"  {pid} (patched at {', '.join(where)}): add {_recorder_for(where[0])} that"
        " reaches it, list its marks in COVERS, then run `make histories`"
        for pid, where in missing.items()
    )


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_history_replays_where_it_must(path: Path) -> None:
    report = await replay_gate([path])
    assert [path.name] == report.replayed + report.exempt


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
