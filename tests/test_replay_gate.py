"""The replay gate's proof: a non-deterministic change deployed without a patch fails it,
naming the workflow and the event it diverges at; the same change declared incompatible
(a new generation, shipped as a new worker deployment version) passes, because pinned runs
of older generations finish on their own version; an auto-upgrading type gets no such
exemption. The changed workflows are tests/changed_workflows.py's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.common import VersioningBehavior

from naestro import names
from tests.changed_workflows import IngestWithNewStep, TaskWithNewStep
from tests.replay import Recorded, behaviours, divergence, generation_of, replay_gate
from workers.orchestrator import WORKFLOWS
from workflows.versions import GENERATION

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))
RECORDED = [Recorded.load(p) for p in HISTORIES]
TASKS = [r for r in RECORDED if r.workflow_type == names.TASK_WORKFLOW]
INGESTS = [r for r in RECORDED if r.workflow_type == names.INGEST_WORKFLOW]
_UPGRADING = behaviours(WORKFLOWS)
AUTO_UPGRADE = [
    r for r in RECORDED if _UPGRADING[r.workflow_type] == VersioningBehavior.AUTO_UPGRADE
]


def deployed(*changed: type) -> list[type]:
    """The worker's workflows with each changed class in place of the one of its name."""
    by_name = {workflow._Definition.must_from_class(c).name: c for c in changed}
    return [by_name.get(workflow._Definition.must_from_class(c).name, c) for c in WORKFLOWS]


def first_command(recorded: Recorded) -> int:
    """The id of the first event a workflow task's commands made (the run's first step)."""
    kinds = [str(e["eventType"]) for e in recorded.events]
    return int(recorded.events[kinds.index("EVENT_TYPE_WORKFLOW_TASK_COMPLETED") + 1]["eventId"])


def test_every_type_the_proof_changes_has_histories() -> None:
    assert [r for r in TASKS if r.generation == GENERATION]
    assert [r for r in TASKS if r.generation < GENERATION]
    assert INGESTS


async def test_a_change_without_a_patch_fails_naming_the_task_and_its_diverging_event() -> None:
    with pytest.raises(AssertionError) as failed:
        await replay_gate(HISTORIES, deployed(TaskWithNewStep))

    message = str(failed.value)
    for task in TASKS:  # every generation since REPLAYS_SINCE: all of them, today
        named = f"{task.path.name}: naestro.task (workflow id {task.workflow_id}"
        assert named in message
        # The new timer met the first step the recorded run took: e.g. event 5
        # (UPSERT_WORKFLOW_SEARCH_ATTRIBUTES).
        assert f"at {task.event(first_command(task))}:" in message
        assert re.search(r"at event \d+ \([A-Z_]+\): \[TMPRL1100\] Nondeterminism", message)
    assert len(message.splitlines()) == 1 + len(TASKS)


async def test_the_same_change_as_a_new_generation_passes_pinned_histories_exempt() -> None:
    new = GENERATION + 1  # declared incompatible: GENERATION and REPLAYS_SINCE raised
    report = await replay_gate(HISTORIES, deployed(TaskWithNewStep), since=new)

    assert {t.path.name for t in TASKS} <= set(report.exempt)
    assert {r.path.name for r in AUTO_UPGRADE} <= set(report.replayed)
    assert sorted(report.replayed + report.exempt) == sorted(p.name for p in HISTORIES)


async def test_an_auto_upgrading_type_must_replay_whatever_the_generation() -> None:
    with pytest.raises(AssertionError) as failed:
        await replay_gate(HISTORIES, deployed(IngestWithNewStep), since=GENERATION + 1)

    message = str(failed.value)
    for recorded in INGESTS:
        at = recorded.event(first_command(recorded))
        assert (
            f"{recorded.path.name}: naestro.ingest (workflow id {recorded.workflow_id}" in message
        )
        assert f"at {at}:" in message
    assert "naestro.task" not in message


def test_a_files_prefix_is_its_generation() -> None:
    assert generation_of(Path("task_code_refined.json")) == 1
    assert generation_of(Path("v2_task_memory.json")) == 2
    assert generation_of(Path("v12_task.json")) == 12


def test_a_failure_without_an_event_id_is_reported_whole() -> None:
    message = divergence(TASKS[0], RuntimeError("the sandbox refused an import"))
    assert message.startswith(f"{TASKS[0].path.name}: naestro.task (workflow id ")
    assert message.endswith("at an unnamed event: the sandbox refused an import")
