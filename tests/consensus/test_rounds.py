"""Low confidence: another round with the judge's rationale, or a human review signal."""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio.client import Client
from temporalio.service import RPCError

from naestro.client import start_task
from naestro.contracts import HumanReview, TaskRequest
from tests.consensus.scripts import TASK, consensus_settings, panel, panel_roles, verdict
from tests.support import running_workers

BETTER = "Paris, on the Seine, is the capital of France."


def improving_panel() -> dict[str, list[dict[str, str]]]:
    """Round 1 is judged weak; proposers that see the feedback converge on BETTER."""
    scripts = panel()
    for pid in ("p1", "p2", "p3"):
        scripts[pid] = [{"contains": "A previous attempt", "text": BETTER}, *scripts[pid]]
    scripts["judge"] = [
        {"contains": BETTER, "text": verdict(0.95)},
        {"text": verdict(0.2, "revise")},
    ]
    return scripts


async def test_low_confidence_runs_another_round(client: Client, tmp_path: Path) -> None:
    settings = consensus_settings(
        tmp_path, improving_panel(), panel_roles(), consensus={"confidence_threshold": 0.7}
    )
    async with running_workers(client, settings):
        handle = await start_task(
            client, TaskRequest(prompt=TASK), task_queue=settings.queues.orchestrator
        )
        result = await handle.result()

    summary = result.consensus
    assert summary is not None
    assert summary.rounds == 2 and summary.early_exit == "proposals agree: synthesis skipped"
    assert summary.confidence >= 0.7
    assert result.answer == BETTER and result.status == "succeeded"
    assert sum(c.role == "proposer" for c in result.trace) == 6


async def test_low_confidence_waits_for_a_human(client: Client, tmp_path: Path) -> None:
    scripts = {**panel(), "judge": [{"text": verdict(0.2, "revise")}]}
    settings = consensus_settings(
        tmp_path,
        scripts,
        panel_roles(),
        consensus={"on_low_confidence": "human", "confidence_threshold": 0.9},
    )
    async with running_workers(client, settings):
        handle = await start_task(
            client, TaskRequest(prompt=TASK), task_queue=settings.queues.orchestrator
        )
        child = client.get_workflow_handle(f"{handle.id}-consensus-implement-0")
        while True:  # the child exists once the plan is done
            try:
                await child.signal("human_review", HumanReview(decision="accept", note="ok"))
                break
            except RPCError:  # not started yet
                await asyncio.sleep(0.05)
        result = await handle.result()

    assert result.consensus is not None
    assert result.consensus.needs_human_review
    assert result.consensus.human_decision == "accept"
    assert result.consensus.rounds == 1
