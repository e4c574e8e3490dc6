"""The budget ledger and structured-output repair on a real dev server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.service import RPCError

from naestro.client import start_task
from naestro.contracts import Budget, Ledger, TaskRequest, TaskResult
from naestro.structured import REPAIR_MARKER
from tests.consensus.scripts import TASK, consensus_settings, critique, panel, panel_roles
from tests.replay import replayer
from tests.support import recorded_usages, running_workers

SLOW = {"simulated_latency_ms": 300}


async def child_ledger(client: Client, workflow_id: str) -> Ledger | None:
    try:
        return await client.get_workflow_handle(workflow_id).query("ledger", result_type=Ledger)
    except RPCError:
        return None  # not started yet


async def test_ledger_matches_recorded_usage_across_a_worker_restart(
    client: Client, tmp_path: Path
) -> None:
    extra = dict.fromkeys(("p1", "p2", "p3", "c1", "c2"), SLOW)
    settings = consensus_settings(tmp_path, panel(), panel_roles(), provider_extra=extra)
    queue = settings.queues.orchestrator
    async with running_workers(client, settings):
        handle = await start_task(client, TaskRequest(prompt=TASK), task_queue=queue)
        child = f"{handle.id}-consensus-implement-0"
        while True:  # wait until the proposers are done and reconciled in the ledger
            ledger = await child_ledger(client, child)
            if ledger is not None and ledger.total.calls >= 3:
                break
            await asyncio.sleep(0.05)
    # Every worker is gone; fresh ones (new process state) replay and finish the task.
    async with running_workers(client, settings):
        result: TaskResult = await handle.result()

    assert result.status == "succeeded", result.reason
    usages = await recorded_usages(client, await handle.fetch_history())
    usages += await recorded_usages(client, await client.get_workflow_handle(child).fetch_history())
    assert result.ledger is not None
    total = result.ledger.total
    # Plan, three proposals, two critics, synthesis, the judge (once: the task reuses it).
    assert total.calls == len(usages) == len(result.trace) == 8
    assert total.input_tokens == sum(u["input_tokens"] for u in usages)
    assert total.output_tokens == sum(u["output_tokens"] for u in usages)
    assert total.usd == pytest.approx(sum(c.cost_usd for c in result.trace))
    assert set(result.ledger.phases) == {"plan", "implement"}  # its judge ran in implement
    assert sum(p.calls for p in result.ledger.phases.values()) == total.calls
    for h in (
        await handle.fetch_history(),
        await client.get_workflow_handle(child).fetch_history(),
    ):
        await replayer(client.data_converter).replay_workflow(h)


async def test_structured_reply_is_repaired_once(client: Client, tmp_path: Path) -> None:
    c1 = [{"contains": REPAIR_MARKER, "text": critique([0.9, 0.8, 0.1])}, {"text": "All fine!"}]
    settings = consensus_settings(tmp_path, {**panel(), "c1": c1}, panel_roles())
    async with running_workers(client, settings):
        handle = await start_task(
            client, TaskRequest(prompt=TASK), task_queue=settings.queues.orchestrator
        )
        result = await handle.result()

    assert result.status == "succeeded", result.reason
    critics = [c.provider for c in result.trace if c.role == "critic"]
    assert sorted(critics) == ["c1", "c1", "c2"]  # c1's invalid reply, then its repair
    assert result.consensus is not None and result.consensus.critiques == 2


async def test_structured_reply_fails_clearly_after_the_repair(
    client: Client, tmp_path: Path
) -> None:
    settings = consensus_settings(tmp_path, {**panel(), "c1": [{"text": "no JSON"}]}, panel_roles())
    async with running_workers(client, settings):
        handle = await start_task(
            client, TaskRequest(prompt=TASK), task_queue=settings.queues.orchestrator
        )
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()

    message = str(failure.value.cause)
    assert "critic via c1: reply did not match the required schema Critique" in message
    assert "after one repair attempt: the reply holds no JSON object" in message


async def test_parallel_reservations_cannot_overshoot_the_budget(
    client: Client, tmp_path: Path
) -> None:
    settings = consensus_settings(tmp_path, panel(), panel_roles())
    request = TaskRequest(prompt=TASK, budget=Budget(max_tokens=1500))
    async with running_workers(client, settings):
        handle = await start_task(client, request, task_queue=settings.queues.orchestrator)
        result = await handle.result()

    assert result.status == "budget_exhausted"
    assert result.reason.startswith("consensus: ")
    assert result.spend.tokens <= 1500
    # What the child spent before it stopped is in the task's spend and trace.
    child = [c for c in result.trace if c.role != "planner"]
    assert child and result.spend.model_calls == len(result.trace)
    assert result.spend.tokens == sum(c.input_tokens + c.output_tokens for c in result.trace)
