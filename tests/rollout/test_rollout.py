"""The rollout gate on the dev server: it promotes a candidate that is not worse (after a
person's approval when asked), rolls back one that fails its tests more often by itself,
and carries on through a restart of its worker mid-evaluation."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle

from naestro import deployments, rollouts
from naestro.client import start_task
from naestro.config.settings import Settings
from naestro.contracts import Budget, TaskRequest
from naestro.contracts.deploy import RolloutCommand, RolloutSpec
from naestro.contracts.rollout import GateRule
from tests.rollout.versions import (
    BAD,
    PROMPT,
    ended,
    serving,
    two_versions,
    wait_phase,
)

# Small looks: the gate's statistics are naestro/gate.py's (tests/rollout/test_gate.py);
# here it is the workflow around them that is under test.
# Latency is not under test here (a new worker's first tasks are slower: sandbox imports).
RULE = GateRule(min_tasks=4, look_every=4, max_tasks=16, latency_tolerance=100)
TASK = TaskRequest(prompt=PROMPT, kind="code", budget=Budget(max_refine_rounds=0))


def spec(v1: Settings, candidate: str, **extra: object) -> RolloutSpec:
    return RolloutSpec(
        deployment=v1.deploy.name,
        baseline="v1",
        candidate=candidate,
        percent=50,
        rule=RULE,
        interval_seconds=0.5,
        **extra,  # type: ignore[arg-type]
    )


@contextlib.asynccontextmanager
async def traffic(client: Client, queue: str) -> AsyncIterator[None]:
    """New tasks, a few a second, while the block runs (the users of the deployment)."""

    started: list[WorkflowHandle[Any, Any]] = []

    async def submit() -> None:
        while True:
            started.append(await start_task(client, TASK, task_queue=queue))
            await asyncio.sleep(0.25)

    feeding = asyncio.create_task(submit())
    async with ended(started):  # none left running (on versions whose workers go away)
        try:
            yield
        finally:
            feeding.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeding


async def test_gate_promotes_a_candidate_not_worse_after_approval(
    client: Client, tmp_path: Path
) -> None:
    v1, v2 = two_versions(tmp_path)
    name = v1.deploy.name
    queue = v1.queues.orchestrator
    async with serving(client, v1) as old, serving(client, v2, sandbox=False):
        await deployments.set_current(client, old)
        await rollouts.start(client, spec(v1, "v2", approval=True), queue)
        async with traffic(client, queue):
            waiting = await wait_phase(client, name, "awaiting_approval")
        assert waiting.pending == "promote", waiting.reason
        assert waiting.measured is not None and waiting.measured.candidate.n >= RULE.min_tasks
        final = await rollouts.command(client, name, RolloutCommand(action="approve", by="ops"))
        assert final.phase == "promoted", final.reason
        assert "approved by ops" in final.reason
        state = await deployments.require(client, name)
        assert (state.current, state.ramping) == ("v2", None)


async def test_gate_rolls_back_a_worse_candidate_through_a_worker_restart(
    client: Client, tmp_path: Path
) -> None:
    v1, v2 = two_versions(tmp_path, candidate=BAD)
    name = v1.deploy.name
    queue = v1.queues.orchestrator
    async with serving(client, v2, sandbox=True):
        async with serving(client, v1, sandbox=False) as old:  # the gate runs on v1 (pinned)
            await deployments.set_current(client, old)
            await rollouts.start(client, spec(v1, "v2"), queue)
            await wait_phase(client, name, "measuring")
        # v1's worker is gone mid-evaluation; the gate's timer and state wait in history.
        await asyncio.sleep(1.0)
        async with serving(client, v1, sandbox=False), traffic(client, queue):
            final = await wait_phase(client, name, "rolled_back")
    assert "significantly worse" in final.reason, final.reason
    assert final.last is not None and final.last.delta is not None and final.last.delta < 0
    state = await deployments.require(client, name)
    assert (state.current, state.ramping) == ("v1", None)
