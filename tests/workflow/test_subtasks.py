"""Structured plans that fan out into child TaskWorkflows, on a real dev server with
scripted replies at the provider boundary."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.converter import decode_typed_search_attributes

from naestro import names, search
from naestro.client import cancel_task, query_status, start_task
from naestro.config.settings import Settings
from naestro.contracts import Budget, TaskRequest, TaskResult
from tests.support import make_settings, replay_provider, running_workers, write_script
from tests.workflow.scripts import verdict

SPLIT = "Decide whether the task splits"  # only in the structured planner's prompt
INTEGRATE = "integrate their results"  # only in the integration prompt
REPLAN = "did not succeed. Rewrite it"  # only in the re-plan prompt


def subtask(sid: str, deps: list[str] | None = None) -> dict[str, Any]:
    return {
        "id": sid,
        "title": f"Part {sid}",
        "prompt": f"Do SUBTASK-{sid.upper()} and say so.",
        "acceptance": [f"mentions {sid}"],
        "depends_on": deps or [],
    }


def plan_rule(subtasks: list[dict[str, Any]]) -> dict[str, Any]:
    plan = {"summary": "Split into parts.", "subtasks": subtasks}
    return {"role": "planner", "contains": SPLIT, "text": json.dumps(plan)}


def _settings(
    tmp_path: Path,
    rules: list[dict[str, Any]],
    latency_ms: float,
    **subtasks: Any,
) -> Settings:
    """Planner and judge answer at once; the implementer takes ``latency_ms`` a call."""
    script = write_script(tmp_path / "script.jsonl", rules)
    fast = replay_provider(script, pid="fast")
    slow = replay_provider(script, pid="slow", simulated_latency_ms=latency_ms)
    roles = {"planner": ["fast"], "implementer": ["slow"], "refiner": ["slow"], "judge": ["fast"]}
    policy = {"roles": roles, "subtasks": {"enabled": True, **subtasks}}
    return make_settings(tmp_path, [fast, slow], policy=policy)


async def _times(client: Client, workflow_id: str) -> tuple[datetime, datetime]:
    desc = await client.get_workflow_handle(workflow_id).describe()
    assert desc.close_time is not None, f"{workflow_id} has not closed"
    return desc.start_time, desc.close_time


async def _child_request(client: Client, workflow_id: str) -> TaskRequest:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    [request] = await client.data_converter.decode(started.input.payloads, [TaskRequest])
    assert isinstance(request, TaskRequest)
    return request


async def test_independent_subtasks_run_in_parallel_and_a_dependent_one_after(
    client: Client, tmp_path: Path
) -> None:
    rules = [
        plan_rule([subtask("a"), subtask("b"), subtask("c"), subtask("d", ["a", "b", "c"])]),
        {"phase": "implement", "contains": INTEGRATE, "text": "integrated answer"},
        *[
            {"phase": "implement", "contains": f"SUBTASK-{x}", "text": f"answer-{x}"}
            for x in "ABCD"
        ],
        {"role": "judge", "text": verdict(0.9)},
    ]
    settings = _settings(tmp_path, rules, latency_ms=1500)
    budget = Budget(max_tokens=30_000)
    async with running_workers(client, settings):
        handle = await start_task(
            client,
            TaskRequest(prompt="Build the four parts.", budget=budget),
            task_queue=settings.queues.orchestrator,
        )
        result = await asyncio.wait_for(handle.result(), 90)
    assert result.status == "succeeded", result.reason
    assert result.answer == "integrated answer"
    assert [(o.id, o.status, o.attempts) for o in result.subtasks] == [
        ("a", "succeeded", 1),
        ("b", "succeeded", 1),
        ("c", "succeeded", 1),
        ("d", "succeeded", 1),
    ]
    assert [o.answer for o in result.subtasks] == ["answer-A", "answer-B", "answer-C", "answer-D"]
    assert "[a] Part a" in result.plan and "(after a, b, c)" in result.plan

    times = {o.id: await _times(client, o.task_id) for o in result.subtasks}
    independent = [times[x] for x in "abc"]
    # The three independent ones overlap: each started before any of them ended.
    assert max(start for start, _ in independent) < min(end for _, end in independent)
    # The dependent one started after all three ended, with their results in its prompt.
    assert times["d"][0] >= max(end for _, end in independent)
    dependent = await _child_request(client, result.subtasks[3].task_id)
    assert all(f"answer-{x}" in dependent.prompt for x in "ABC")
    assert dependent.subtask_of is not None and dependent.subtask_of.subtask_id == "d"

    # Each child had a share of the parent's budget, and in all the parent's was kept.
    children = [await _child_request(client, o.task_id) for o in result.subtasks]
    assert all(c.tenant == "default" and c.policy == "default" for c in children)
    assert sum(c.budget.max_tokens for c in children) <= budget.max_tokens
    assert result.spend.tokens == sum(c.input_tokens + c.output_tokens for c in result.trace)
    assert result.spend.tokens <= budget.max_tokens
    assert sum(o.tokens for o in result.subtasks) < result.spend.tokens  # + plan, integration
    phases = [(c.phase, c.role) for c in result.trace]
    assert phases.count(("implement", "implementer")) == 5  # four subtasks + integration


async def test_failing_subtask_is_replanned_once_then_reported(
    client: Client, tmp_path: Path
) -> None:
    replanned = subtask("a") | {"title": "Part a, smaller", "prompt": "Do SUBTASK-A2 now."}
    rules = [
        plan_rule([subtask("a"), subtask("b"), subtask("c", ["a"])]),
        {"role": "planner", "contains": REPLAN, "text": json.dumps(replanned)},
        {"phase": "implement", "contains": INTEGRATE, "text": "integrated answer"},
        {"phase": "implement", "contains": "SUBTASK-A2", "text": "bad-A2"},
        {"phase": "implement", "contains": "SUBTASK-A", "text": "bad-A"},
        {"phase": "implement", "contains": "SUBTASK-B", "text": "answer-B"},
        {"role": "judge", "contains": "bad-A", "text": verdict(0.1, "reject")},
        {"role": "judge", "text": verdict(0.9)},
    ]
    settings = _settings(tmp_path, rules, latency_ms=0)
    request = TaskRequest(prompt="Three parts.", budget=Budget(max_refine_rounds=0))
    async with running_workers(client, settings):
        handle = await start_task(client, request, task_queue=settings.queues.orchestrator)
        result = await asyncio.wait_for(handle.result(), 90)
    outcomes = {o.id: o for o in result.subtasks}
    assert [o.id for o in result.subtasks] == ["a", "b", "c"]  # none dropped
    a = outcomes["a"]
    assert (a.status, a.attempts, a.replanned) == ("unverified", 2, True)
    assert a.title == "Part a, smaller" and a.answer == "bad-A2"
    assert a.task_id.endswith("-a-2")
    assert outcomes["b"].status == "succeeded"
    assert outcomes["c"].status == "skipped"
    assert "prerequisite a" in outcomes["c"].reason
    assert "2 of 3 subtasks did not succeed" in result.reason
    planner_calls = [c for c in result.trace if c.role == "planner"]
    assert len(planner_calls) == 2  # the plan, and one re-plan


async def test_children_carry_their_parents_attributes_from_their_start(
    client: Client, tmp_path: Path
) -> None:
    """Each child is listed under its tenant and policy from its first event, as a task
    started through naestro.client is; a rollout's mirror task has mirrors for children."""
    rules = [
        plan_rule([subtask("a"), subtask("b")]),
        {"phase": "implement", "text": "an answer"},
        {"role": "judge", "text": verdict(0.9)},
    ]
    settings = _settings(tmp_path, rules, latency_ms=0)
    request = TaskRequest(prompt="Build both parts.", tenant="acme", policy="default")
    async with running_workers(client, settings):
        handle = await client.start_workflow(
            names.TASK_WORKFLOW,
            request,
            id=f"task-{uuid.uuid4().hex[:12]}.shadow",
            task_queue=settings.queues.orchestrator,
            search_attributes=search.initial(
                "general", "acme", request.priority, policy="default", shadow=True
            ),
            result_type=TaskResult,
        )
        result = await asyncio.wait_for(handle.result(), 60)
    assert result.status == "succeeded", result.reason
    assert len(result.subtasks) == 2
    for outcome in result.subtasks:
        history = await client.get_workflow_handle(outcome.task_id).fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        attrs = decode_typed_search_attributes(started.search_attributes)
        assert attrs.get(search.TENANT) == "acme"
        assert attrs.get(search.POLICY) == "default"
        assert attrs.get(search.SHADOW) is True
        assert attrs.get(search.STATUS) == "running"


async def test_a_plan_too_small_to_split_runs_as_one_task(client: Client, tmp_path: Path) -> None:
    rules = [
        plan_rule([subtask("a")]),
        {"phase": "implement", "text": "the whole answer"},
        {"role": "judge", "text": verdict(0.9)},
    ]
    settings = _settings(tmp_path, rules, latency_ms=0)
    async with running_workers(client, settings):
        handle = await start_task(
            client, TaskRequest(prompt="Small."), task_queue=settings.queues.orchestrator
        )
        result = await asyncio.wait_for(handle.result(), 60)
    assert result.status == "succeeded"
    assert result.subtasks == []
    assert result.answer == "the whole answer"
    assert [(c.phase, c.role) for c in result.trace] == [
        ("plan", "planner"),
        ("implement", "implementer"),
        ("review", "judge"),
    ]
    assert result.plan.startswith("Split into parts.")


async def test_cancelling_the_parent_cancels_its_children(client: Client, tmp_path: Path) -> None:
    rules = [
        plan_rule([subtask("a"), subtask("b"), subtask("c", ["a"])]),
        {"phase": "implement", "text": "never arrives"},
        {"role": "judge", "text": verdict(0.9)},
    ]
    settings = _settings(tmp_path, rules, latency_ms=60_000)
    async with running_workers(client, settings):
        handle = await start_task(
            client, TaskRequest(prompt="Slow parts."), task_queue=settings.queues.orchestrator
        )
        children = [f"{handle.id}-a-1", f"{handle.id}-b-1"]
        for _ in range(300):
            view = await query_status(client, handle.id)
            if view.phase == "subtasks" and await _all_running(client, children):
                break
            await asyncio.sleep(0.1)
        assert await _all_running(client, children)
        await cancel_task(client, handle.id, "not needed any more")
        result = await asyncio.wait_for(handle.result(), 30)
        statuses = {c: await _closed_status(client, c) for c in children}
    assert result.status == "cancelled"
    assert result.reason.startswith("not needed any more")
    assert [(o.id, o.status) for o in result.subtasks] == [
        ("a", "cancelled"),
        ("b", "cancelled"),
        ("c", "cancelled"),
    ]
    assert set(statuses.values()) == {WorkflowExecutionStatus.CANCELED}


async def _all_running(client: Client, ids: list[str]) -> bool:
    for wid in ids:
        try:
            desc = await client.get_workflow_handle(wid).describe()
        except Exception:
            return False
        if desc.status != WorkflowExecutionStatus.RUNNING:
            return False
    return True


async def _closed_status(client: Client, wid: str) -> WorkflowExecutionStatus | None:
    for _ in range(100):
        status = (await client.get_workflow_handle(wid).describe()).status
        if status != WorkflowExecutionStatus.RUNNING:
            return status
        await asyncio.sleep(0.1)
    return WorkflowExecutionStatus.RUNNING
