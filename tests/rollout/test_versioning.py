"""Worker Versioning on the dev server: a canary ramp sends about its share of new tasks to
the candidate, every task stays on the version it started on, and an old version drains."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

from temporalio.client import Client
from temporalio.common import WorkerDeploymentVersion

from naestro import deployments
from naestro.client import start_task
from naestro.contracts import TaskRequest
from tests.rollout.versions import (
    PROMPT,
    approve_plan,
    ended,
    label_of,
    pending_plan,
    results,
    serving,
    two_versions,
)
from workers import versioning

TASKS, RAMP = 150, 10.0


def binomial_bounds(n: int, p: float, tail: float) -> tuple[int, int]:
    """The counts k_lo, k_hi with P(K < k_lo) <= tail and P(K > k_hi) <= tail."""
    pmf = [math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(n + 1)]
    low, total = 0, 0.0
    while total + pmf[low] <= tail:
        total += pmf[low]
        low += 1
    high, total = n, 0.0
    while total + pmf[high] <= tail:
        total += pmf[high]
        high -= 1
    return low, high


def task(policy: str = "default") -> TaskRequest:
    return TaskRequest(prompt=PROMPT, kind="code", policy=policy)


async def test_ramp_share_pinning_and_drainage(client: Client, tmp_path: Path) -> None:
    v1, v2 = two_versions(tmp_path)
    name = v1.deploy.name
    queue = v1.queues.orchestrator
    async with serving(client, v1) as old, serving(client, v2, sandbox=False) as new:
        await deployments.set_current(client, old)

        # A task started on v1 that waits for a person: it must finish on v1 whatever
        # happens to the routing meanwhile.
        held = await start_task(client, task("held"), task_queue=queue)
        pending = await pending_plan(held)

        await deployments.set_ramping(client, name, new.build_id, RAMP)
        handles = await asyncio.gather(
            *(start_task(client, task(), task_queue=queue) for _ in range(TASKS))
        )
        async with ended([held, *handles]):  # none left running for the next tests
            labels = [label_of(r) for r in await results(list(handles))]
            on_new = labels.count("v2")
            low, high = binomial_bounds(TASKS, RAMP / 100, 1e-4)
            assert low <= on_new <= high, f"{on_new} of {TASKS} on the candidate at {RAMP}%"
            assert set(labels) == {"v1", "v2"}

            # Promote v2: new tasks go to it; the held task stays pinned to v1.
            await deployments.set_current(client, new)
            assert (
                label_of(await (await start_task(client, task(), task_queue=queue)).result())
                == "v2"
            )
            assert await _open_on(client, old) == 1
            assert await _drainage_soon(client, old, "draining")

            await approve_plan(held, pending)
            assert label_of(await held.result()) == "v1"
            builds = await _task_builds(held)
            assert builds == {old.build_id}, builds
            assert await _drainage_soon(client, old, "drained")  # now v1's workers may stop


async def _open_on(client: Client, version: WorkerDeploymentVersion) -> int:
    value = deployments.search_value(version)
    query = f"TemporalWorkerDeploymentVersion = '{value}' AND ExecutionStatus = 'Running'"
    for _ in range(100):  # visibility is eventually consistent
        counted = (await client.count_workflows(query)).count
        if counted:
            return counted
        await asyncio.sleep(0.1)
    return 0


async def _drainage_soon(client: Client, version: WorkerDeploymentVersion, wanted: str) -> bool:
    for _ in range(300):
        if await deployments.drainage(client, version) == wanted:
            return True
        await asyncio.sleep(0.1)
    return False


async def _task_builds(handle: object) -> set[str]:
    """The build ids of the workers that completed the task's workflow tasks."""
    history = await handle.fetch_history()  # type: ignore[attr-defined]
    builds = set()
    for event in history.events:
        if event.HasField("workflow_task_completed_event_attributes"):
            done = event.workflow_task_completed_event_attributes
            builds.add(done.deployment_version.build_id or done.worker_version.build_id)
    return builds


async def test_a_first_version_becomes_current_and_later_ones_wait(
    client: Client, tmp_path: Path
) -> None:
    v1, v2 = two_versions(tmp_path)
    name = v1.deploy.name
    first, later = (s.deploy.model_copy(update={"make_current": "if-none"}) for s in (v1, v2))
    async with serving(client, v1), serving(client, v2, sandbox=False):
        await versioning.settle_current(client, first)  # a first deploy: current at once
        await versioning.settle_current(client, later)  # the next waits for a rollout
        assert (await deployments.require(client, name)).current == "v1"
        await versioning.settle_current(client, later.model_copy(update={"make_current": "always"}))
        assert (await deployments.require(client, name)).current == "v2"
