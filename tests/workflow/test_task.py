"""TaskWorkflow end to end on a real dev server, with scripted replies at the provider."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError

from naestro import search
from naestro.client import cancel_task, query_status, start_task
from naestro.contracts import Budget, TaskRequest, TaskStatusView
from tests.support import make_settings, replay_provider, running_workers, write_script
from tests.workflow.scripts import PROMPT, code_task_rules, verdict


def _scripted(tmp_path: Path, rules: list[dict[str, object]], **provider: object):
    script = write_script(tmp_path / "script.jsonl", rules)
    return make_settings(tmp_path, [replay_provider(script, **provider)])


async def test_failing_draft_is_refined_until_verified(client: Client, tmp_path: Path) -> None:
    settings = _scripted(tmp_path, code_task_rules())
    async with running_workers(client, settings):
        handle = await start_task(
            client, TaskRequest(prompt=PROMPT, kind="code"), task_queue=settings.queues.orchestrator
        )
        result = await handle.result()
    assert result.status == "succeeded", result.reason
    assert result.rounds == 1
    assert result.verification is not None and result.verification.passed
    assert {t.name.split("::")[-1].split(".")[-1] for t in result.verification.tests} >= {
        "test_adds_small_numbers",
        "test_adds_negatives",
    }
    assert result.verdict is not None and result.verdict.score == pytest.approx(0.9)
    assert [(c.phase, c.role) for c in result.trace] == [
        ("plan", "planner"),
        ("implement", "implementer"),
        ("refine", "refiner"),
        ("review", "judge"),
    ]
    assert result.scripted and all(c.scripted for c in result.trace)
    assert "a + b" in result.answer
    assert {a.name for a in result.artifacts} == {"solution.py", "test_solution.py"}
    assert result.spend.model_calls == 4
    assert result.spend.tokens == sum(c.input_tokens + c.output_tokens for c in result.trace)
    desc = await handle.describe()
    attrs = desc.typed_search_attributes
    assert attrs.get(search.PHASE) == "done"
    assert attrs.get(search.KIND) == "code"
    assert attrs.get(search.STATUS) == "succeeded"


async def _cost_upserts(
    client: Client, tmp_path: Path, name: str, **provider: object
) -> tuple[float, Any]:
    """A three-call task: its NaestroCostUsd at the end, the values its history upserted."""
    from temporalio.api.enums.v1 import EventType

    rules = [
        {"role": "planner", "text": "plan"},
        {"phase": "implement", "text": "answer"},
        {"role": "judge", "text": verdict(0.9)},
    ]
    script = write_script(tmp_path / f"{name}.jsonl", rules)
    settings = make_settings(tmp_path, [replay_provider(script, **provider)])
    async with running_workers(client, settings):
        handle = await start_task(
            client, TaskRequest(prompt="Explain X."), task_queue=settings.queues.orchestrator
        )
        result = await handle.result()
    assert result.status == "succeeded" and result.spend.model_calls == 3
    upserted = EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
    costs = [
        e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields[
            search.COST.name
        ].data
        for e in (await handle.fetch_history()).events
        if e.event_type == upserted
        and search.COST.name
        in e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
    ]
    shown = (await handle.describe()).typed_search_attributes.get(search.COST)
    assert shown == pytest.approx(result.spend.usd)
    return shown, [float(c) for c in costs]


async def test_the_cost_attribute_follows_spend_written_only_when_it_changes(
    client: Client, tmp_path: Path
) -> None:
    """NaestroCostUsd says what a task spent: a priced model's every call changes it (an
    upsert each); a free one's (a local engine, a script) leaves it at the zero the task
    started with, and no call writes it again."""
    price = {"price": {"input_per_mtok": 1000.0, "output_per_mtok": 1000.0}}
    shown, costs = await _cost_upserts(client, tmp_path, "priced", **price)
    assert shown > 0 and len(costs) == 3 and costs == sorted(costs) and costs[-1] == shown
    shown, costs = await _cost_upserts(client, tmp_path, "free")
    assert shown == 0.0 and costs == []


async def test_budget_exhaustion_keeps_best_result(client: Client, tmp_path: Path) -> None:
    rules = [
        {"role": "planner", "text": "plan", "output_tokens": 50},
        {"phase": "implement", "text": "draft answer", "output_tokens": 400},
        {"role": "judge", "text": verdict(0.2, "revise"), "output_tokens": 50},
        {"phase": "refine", "text": "better", "output_tokens": 400},
    ]
    settings = _scripted(tmp_path, rules)
    request = TaskRequest(prompt="Explain X.", budget=Budget(max_tokens=600))
    async with running_workers(client, settings):
        handle = await start_task(client, request, task_queue=settings.queues.orchestrator)
        result = await handle.result()
    assert result.status == "budget_exhausted"
    assert "budget" in result.reason
    assert result.answer == "draft answer"
    assert result.spend.tokens <= 600 + 100  # the last call was capped to what was left


async def test_cancel_signal_ends_task_with_partial_result(client: Client, tmp_path: Path) -> None:
    rules = [
        {"role": "planner", "text": "the plan"},
        {"phase": "implement", "text": "never arrives"},
    ]
    script = write_script(tmp_path / "s.jsonl", rules)
    fast = replay_provider(script, pid="fast")
    slow = replay_provider(script, pid="slow", simulated_latency_ms=60_000)
    settings = make_settings(tmp_path, [fast, slow])
    settings = settings.model_copy(
        update={
            "policies": {
                "default": settings.policies["default"].model_copy(
                    update={
                        "roles": {
                            "planner": ["fast"],
                            "implementer": ["slow"],
                            "refiner": ["slow"],
                            "judge": ["fast"],
                        }
                    }
                )
            }
        }
    )
    async with running_workers(client, settings):
        handle = await start_task(
            client, TaskRequest(prompt="Slow task"), task_queue=settings.queues.orchestrator
        )
        for _ in range(200):
            view = await query_status(client, handle.id)
            if view.phase == "implement":
                break
            await asyncio.sleep(0.05)
        assert view.phase == "implement"
        await cancel_task(client, handle.id, "user changed their mind")
        result = await asyncio.wait_for(handle.result(), 20)
    assert result.status == "cancelled"
    assert result.reason == "user changed their mind"
    assert result.plan == "the plan"
    assert [c.phase for c in result.trace] == ["plan"]


async def test_status_query_reports_phase_round_and_spend(client: Client, tmp_path: Path) -> None:
    settings = _scripted(tmp_path, code_task_rules())
    async with running_workers(client, settings):
        handle = await start_task(
            client, TaskRequest(prompt=PROMPT, kind="code"), task_queue=settings.queues.orchestrator
        )
        await handle.result()
        view = await handle.query("status", result_type=TaskStatusView)
    assert view.phase == "done"
    assert view.round == 1
    assert view.status == "succeeded"
    assert view.spend.model_calls == 4


async def test_improvement_gate_stops_refining(client: Client, tmp_path: Path) -> None:
    rules = [
        {"role": "planner", "text": "plan"},
        {"role": "judge", "text": verdict(0.4, "revise")},
        {"text": "the same answer every time"},
    ]
    settings = make_settings(
        tmp_path,
        [replay_provider(write_script(tmp_path / "s.jsonl", rules))],
        policy={"min_improvement": 0.25},
    )
    request = TaskRequest(prompt="Q?", budget=Budget(max_refine_rounds=5))
    async with running_workers(client, settings):
        handle = await start_task(client, request, task_queue=settings.queues.orchestrator)
        result = await handle.result()
    assert result.status == "unverified"
    assert "improvement gate" in result.reason
    assert result.rounds == 1


async def test_rounds_run_out(client: Client, tmp_path: Path) -> None:
    settings = _scripted(
        tmp_path, [{"role": "judge", "text": verdict(0.1, "reject")}, {"text": "no code here"}]
    )
    request = TaskRequest(prompt=PROMPT, kind="code", budget=Budget(max_refine_rounds=0))
    async with running_workers(client, settings):
        handle = await start_task(client, request, task_queue=settings.queues.orchestrator)
        result = await handle.result()
    assert result.status == "unverified"
    assert result.verification is not None and not result.verification.passed
    assert "no code" in result.verification.summary


async def test_same_task_id_returns_the_same_task(client: Client, tmp_path: Path) -> None:
    settings = _scripted(tmp_path, code_task_rules())
    task_id = f"task-{uuid.uuid4().hex[:8]}"
    async with running_workers(client, settings):
        first = await start_task(
            client,
            TaskRequest(prompt=PROMPT, kind="code"),
            task_id=task_id,
            task_queue=settings.queues.orchestrator,
        )
        second = await start_task(
            client,
            TaskRequest(prompt=PROMPT, kind="code"),
            task_id=task_id,
            task_queue=settings.queues.orchestrator,
        )
        assert first.result_run_id == second.result_run_id
        await first.result()


async def test_unknown_policy_fails_with_clear_reason(client: Client, tmp_path: Path) -> None:
    settings = _scripted(tmp_path, code_task_rules())
    async with running_workers(client, settings):
        handle = await start_task(
            client, TaskRequest(prompt="x", policy="nope"), task_queue=settings.queues.orchestrator
        )
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result()
    assert "unknown policy 'nope'" in str(info.value.cause)
    assert (await handle.describe()).status == WorkflowExecutionStatus.FAILED


async def test_invalid_request_from_any_client_fails_naming_the_field(
    client: Client, tmp_path: Path
) -> None:
    settings = _scripted(tmp_path, code_task_rules())
    async with running_workers(client, settings):
        # A raw dict, as another SDK or `temporal workflow start` would send it.
        handle = await client.start_workflow(
            "naestro.task",
            {"prompt": "ok", "kind": "poetry"},
            id=f"bad-{uuid.uuid4().hex[:8]}",
            task_queue=settings.queues.orchestrator,
        )
        with pytest.raises(WorkflowFailureError) as info:
            await asyncio.wait_for(handle.result(), 30)
    assert "kind" in str(info.value.cause)


def test_invalid_request_is_rejected_before_starting() -> None:
    with pytest.raises(ValueError, match="prompt"):
        TaskRequest(prompt="")
    with pytest.raises(ValueError, match="max_refine_rounds"):
        TaskRequest(prompt="x", budget=Budget(max_refine_rounds=-1))
