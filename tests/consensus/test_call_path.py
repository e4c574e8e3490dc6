"""The one model-call path under a consensus policy, on the real dev server: a tenant's
PII action for local engines, the wall-time budget bounding a deliberation, and the
GPU-seconds of local calls in the task's ledger."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from naestro.client import start_task
from naestro.config.settings import PiiConfig, TenantPiiPolicy
from naestro.contracts import Budget, TaskRequest
from tests.consensus.scripts import TASK, consensus_settings, panel, panel_roles, text
from tests.support import recorded_requests, running_workers

EMAIL = "alice@example.com"
PLACEHOLDER = "<EMAIL_1>"


@pytest.mark.parametrize(
    ("tenant", "sees_raw"), [("acme", False), ("default", True)], ids=["redact", "allow"]
)
async def test_local_engines_get_what_the_tenants_policy_allows(
    client: Client, tmp_path: Path, tenant: str, sees_raw: bool
) -> None:
    scripts = {
        **panel(),
        "p1": [{"contains": EMAIL, "text": "LEAKED"}, {"text": f"Paris; write to {PLACEHOLDER}."}],
    }
    record = {pid: {"record": str(tmp_path / f"{pid}-sent.jsonl")} for pid in scripts}
    settings = consensus_settings(tmp_path, scripts, panel_roles(), provider_extra=record)
    # acme's local engines get placeholders; every other tenant's see the raw text.
    pii = PiiConfig(tenants={"acme": TenantPiiPolicy(local="redact")})
    settings = settings.model_copy(update={"pii": pii})
    prompt = f"Write to {EMAIL}: what is the capital of France?"
    async with running_workers(client, settings):
        handle = await start_task(
            client,
            TaskRequest(prompt=prompt, tenant=tenant),
            task_queue=settings.queues.orchestrator,
        )
        result = await handle.result()

    assert result.status == "succeeded", result.reason
    assert all(settings.provider(pid).where == "local" for pid in scripts)
    sent = {pid: recorded_requests(tmp_path / f"{pid}-sent.jsonl") for pid in scripts}
    roles = {r.role for requests in sent.values() for r in requests}
    assert roles == {"planner", "proposer", "critic", "synthesizer", "judge"}
    texts = ["\n".join(m.content for m in r.messages) for rs in sent.values() for r in rs]
    assert len(texts) == len(result.trace)
    reviews = [t for t in texts if "### Proposal 1" in t]
    assert len(reviews) == 3  # two critics and the synthesizer saw p1's proposal
    if sees_raw:  # the address reached every engine (p1 answered LEAKED)
        assert all(EMAIL in t for t in texts)
        assert all("### Proposal 1\nLEAKED" in t for t in reviews)
        return
    # Every call (the task's plan, each proposer, critic, synthesizer and judge) carried the
    # placeholder and never the address; p1's proposal was restored, then redacted again.
    assert not any(EMAIL in t for t in texts)
    assert all(PLACEHOLDER in t for t in texts)
    assert all(f"### Proposal 1\nParis; write to {PLACEHOLDER}." in t for t in reviews)


async def test_wall_time_bounds_a_consensus_phase(client: Client, tmp_path: Path) -> None:
    wall, latency = 5, 120
    slow = {"simulated_latency_ms": latency * 1000}
    settings = consensus_settings(
        tmp_path,
        panel(),
        panel_roles(),
        provider_extra={"p1": slow, "p2": slow, "p3": slow},
    )
    request = TaskRequest(prompt=TASK, budget=Budget(max_wall_seconds=wall))
    async with running_workers(client, settings):
        handle = await start_task(client, request, task_queue=settings.queues.orchestrator)
        result = await handle.result()

    assert result.status == "budget_exhausted"
    assert result.reason == "consensus: wall time: the task's budget is spent"
    assert [c.phase for c in result.trace] == ["plan"]
    events = (await handle.fetch_history()).events
    elapsed = events[-1].event_time.ToDatetime() - events[0].event_time.ToDatetime()
    assert elapsed.total_seconds() < wall + 5  # the wall budget, not the proposers' latency
    # Each proposer's call was given only the wall time left, and timed out there.
    child = client.get_workflow_handle(f"{handle.id}-consensus-implement-0")
    child_events = (await child.fetch_history()).events
    limits = [
        e.activity_task_scheduled_event_attributes.schedule_to_close_timeout.ToTimedelta()
        for e in child_events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert len(limits) == 3 and all(0 < t.total_seconds() <= wall for t in limits)
    timed_out = EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT
    assert sum(e.event_type == timed_out for e in child_events) == 3


async def test_local_calls_book_gpu_seconds_on_both_paths(client: Client, tmp_path: Path) -> None:
    gpu = {"gpus": 2, "simulated_latency_ms": 300}
    local = ("planner", "p1", "p2", "p3")
    scripts = {**panel(), "cloud": text(panel()["judge"][0]["text"])}
    roles = {**panel_roles(), "judge": ["cloud"]}
    extra = dict.fromkeys(local, gpu) | {"cloud": {"location": "cloud", "gpus": 2}}
    settings = consensus_settings(tmp_path, scripts, roles, provider_extra=extra)
    async with running_workers(client, settings):
        handle = await start_task(
            client, TaskRequest(prompt=TASK), task_queue=settings.queues.orchestrator
        )
        result = await handle.result()

    assert result.status == "succeeded", result.reason
    on_gpus = [c for c in result.trace if c.provider in local]
    # The task's own call (the plan) and the child's (the proposers) alike.
    assert sorted(c.role for c in on_gpus) == ["planner", "proposer", "proposer", "proposer"]
    for call in on_gpus:
        assert call.gpu_seconds == pytest.approx(call.latency_ms / 1000 * 2, abs=1e-5)
        assert call.gpu_seconds >= 0.6
    assert all(c.gpu_seconds == 0 for c in result.trace if c.provider not in local)
    assert any(c.provider == "cloud" for c in result.trace)  # a cloud engine books none
    assert result.ledger is not None
    total = sum(c.gpu_seconds for c in result.trace)
    assert result.ledger.total.gpu_seconds == pytest.approx(total)
    proposers = sum(c.gpu_seconds for c in on_gpus if c.role == "proposer")
    assert result.ledger.phases["implement"].gpu_seconds == pytest.approx(proposers)
