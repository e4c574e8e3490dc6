"""Per-call routing on a real dev server: breakers, long context, the SLM ramp."""

from __future__ import annotations

import math
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner, Worker

from activities.routing.activity import RoutingActivities
from activities.routing.governor import Governor
from naestro.client import start_task
from naestro.contracts import CallRouteRequest, ChatMessage, TaskRequest
from tests.consensus.scripts import TASK, consensus_settings, panel, panel_roles, text
from tests.support import make_settings, replay_provider, running_workers, write_script

DEAD = [{"error_status": 503}]


async def scheduled_queues(client: Client, workflow_id: str) -> list[str]:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return [
        e.activity_task_scheduled_event_attributes.task_queue.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]


async def test_dead_provider_opens_its_breaker(client: Client, tmp_path: Path) -> None:
    # Three proposers sample the first proposer provider (self-consensus): a dead one.
    roles = {**panel_roles(), "proposer": ["dead", "p2"], "judge": ["dead", "judge"]}
    settings = consensus_settings(
        tmp_path,
        {**panel(), "dead": DEAD},
        roles,
        consensus={"call_attempts": 1, "self_consensus": True},
    )
    dead_queue = settings.provider("dead").queue
    queue = settings.queues.orchestrator
    async with running_workers(client, settings) as deps:
        first = await start_task(client, TaskRequest(prompt=TASK), task_queue=queue)
        result = await first.result()
        second = await start_task(client, TaskRequest(prompt=TASK), task_queue=queue)
        again = await second.result()
        assert deps.governor is not None
        assert deps.governor.breaker("dead").state == "open"

    assert result.status == again.status == "succeeded"
    # The three proposers' failures opened the breaker; each fell back to p2.
    queues = await scheduled_queues(client, f"{first.id}-consensus-implement-0")
    assert queues.count(dead_queue) == 3
    assert {c.provider for c in result.trace if c.role == "proposer"} == {"p2"}
    # Later calls whose first choice is the dead provider go to the fallback at once.
    judges = [c for c in result.trace if c.role == "judge"]
    assert len(judges) == 1  # the consensus judge; its verdict serves the task's review
    assert all(c.provider == "judge" and "dead: circuit open" in c.route_reason for c in judges[:1])
    assert (await scheduled_queues(client, first.id)).count(dead_queue) == 0
    # So does the next task: no call reaches the dead provider.
    assert (await scheduled_queues(client, f"{second.id}-consensus-implement-0")).count(
        dead_queue
    ) == 0
    assert all(c.provider != "dead" for c in again.trace)


async def test_long_prompt_routes_to_the_long_context_provider(
    client: Client, tmp_path: Path
) -> None:
    scripts = {**panel(), "small": text("small"), "big": text("Paris.")}
    roles = {**panel_roles(), "proposer": ["small"], "long_context": ["big"]}
    settings = consensus_settings(
        tmp_path, scripts, roles, provider_extra={"small": {"context_window": 4000}}
    )
    prompt = TASK + "\n\nContext:\n" + "Paris has been the capital for centuries. " * 600
    async with running_workers(client, settings):
        handle = await start_task(
            client, TaskRequest(prompt=prompt), task_queue=settings.queues.orchestrator
        )
        result = await handle.result()

    proposers = [c for c in result.trace if c.role == "proposer"]
    assert proposers and {c.provider for c in proposers} == {"big"}
    assert "small: prompt of" in proposers[0].route_reason
    assert "does not fit its 4000-token window" in proposers[0].route_reason


@workflow.defn(name="test.slm_ramp")
class RampWorkflow:
    """Routes short and long implement calls, drawing the ramp with workflow.random."""

    @workflow.run
    async def run(self, calls: list[int]) -> list[str]:
        roles = []
        for chars in calls:
            route = await workflow.execute_local_activity_method(
                RoutingActivities.route_call,
                CallRouteRequest(
                    policy="default",
                    role="implementer",
                    phase="implement",
                    messages=[ChatMessage(role="user", content="x" * chars)],
                    max_output_tokens=512,
                    slm_draw=workflow.random().random(),
                ),
                start_to_close_timeout=timedelta(seconds=10),
            )
            roles.append(route.role)
        return roles


@pytest.mark.parametrize("share", [0.5, 0.9])
async def test_slm_share_follows_the_ramp(client: Client, tmp_path: Path, share: float) -> None:
    script = write_script(tmp_path / "s.jsonl", [{"text": "ok"}])
    settings = make_settings(
        tmp_path,
        [replay_provider(script, "big"), replay_provider(script, "slm", context_window=32000)],
        policy={
            "routing": {"slm_share": share},
            "roles": {"implementer": ["big"], "judge": ["big"], "slm": ["slm"]},
        },
    )
    routing = RoutingActivities(settings, Governor(settings))
    queue = f"ramp-{uuid.uuid4().hex[:8]}"
    calls = [400] * 400 + [40_000] * 20  # 400 short calls, then 20 over 8K tokens
    async with Worker(
        client,
        task_queue=queue,
        workflows=[RampWorkflow],
        activities=[routing.route_call],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await client.start_workflow(
            RampWorkflow.run, calls, id=f"ramp-{uuid.uuid4().hex}", task_queue=queue
        )
        roles = await handle.result()

    short, long = roles[:400], roles[400:]
    # Each short call draws the SLM with probability `share`: within 4 standard deviations
    # of it (a binomial over 400 draws; 0.05 was 2 sigma at 0.5 and failed ~1 run in 20).
    assert abs(short.count("slm") / 400 - share) <= 4 * math.sqrt(share * (1 - share) / 400)
    assert "slm" not in long
    # The draws come from workflow.random: the recorded history replays to the same routes.
    replayer = Replayer(
        workflows=[RampWorkflow],
        workflow_runner=UnsandboxedWorkflowRunner(),
        data_converter=client.data_converter,
    )
    await replayer.replay_workflow(await handle.fetch_history())
