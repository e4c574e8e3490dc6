"""Dispatch fairness on the real dev server: work started with naestro.client's
dispatch_priority (the tenant as Temporal's fairness key) is shared out between tenants, so
a tenant that arrives behind another tenant's backlog is served within a few dispatches,
not after the whole backlog. The activity inherits the key from its workflow, as a task's
model calls do (workflows set only priority_key on their activities)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.common import Priority
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from naestro.client import dispatch_priority, fairness_key


class Slot:
    """The one activity slot's record: who ran, in order; the first holds it until opened."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.opened = asyncio.Event()

    @activity.defn(name="test.fairness.step")
    async def step(self, tag: str) -> None:
        self.order.append(tag)
        await self.opened.wait()


@workflow.defn(name="test.fairness")
class FairnessProbe:
    @workflow.run
    async def run(self, tag: str) -> None:
        await workflow.execute_activity_method(
            Slot.step,
            tag,
            start_to_close_timeout=timedelta(seconds=60),
            priority=Priority(priority_key=3),  # as the workflows set it: the key is inherited
        )


async def _scheduled(handles: list[WorkflowHandle[FairnessProbe, None]]) -> None:
    """Until every workflow's activity is in the queue (started or in its backlog)."""
    while True:
        described = [await h.describe() for h in handles]
        if all(d.raw_description.pending_activities for d in described):
            return
        await asyncio.sleep(0.05)


async def test_a_tenant_behind_a_backlog_is_served_within_a_few_dispatches(
    client: Client,
) -> None:
    queue = f"fairness-{uuid.uuid4().hex[:8]}"
    flood, quiet = f"flood-{uuid.uuid4().hex[:6]}", f"quiet-{uuid.uuid4().hex[:6]}"
    slot = Slot()

    async def start(tenant: str, i: int) -> WorkflowHandle[FairnessProbe, None]:
        return await client.start_workflow(
            FairnessProbe.run,
            f"{tenant}-{i}",
            id=f"{queue}-{tenant}-{i}",
            task_queue=queue,
            priority=dispatch_priority(3, tenant),
        )

    async with Worker(
        client,
        task_queue=queue,
        workflows=[FairnessProbe],
        activities=[slot.step],
        max_concurrent_activities=1,
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        backlog = [await start(flood, i) for i in range(20)]
        await asyncio.wait_for(_scheduled(backlog), 60)  # one runs, 19 wait behind it
        late = [await start(quiet, i) for i in range(2)]
        await asyncio.wait_for(_scheduled(late), 60)
        slot.opened.set()
        await asyncio.wait_for(asyncio.gather(*(h.result() for h in backlog + late)), 60)
    assert slot.order[0].startswith(flood)
    served = [i for i, tag in enumerate(slot.order) if tag.startswith(quiet)]
    # First come first served would run them 21st and 22nd; shared fairly, they alternate
    # with the flood's backlog.
    assert len(served) == 2 and max(served) < 6, slot.order


def test_fairness_keys_fit_temporals_64_bytes() -> None:
    assert fairness_key("acme") == "acme"
    long = "t" * 100
    multibyte = "é" * 40  # 40 characters, 80 bytes
    for tenant in (long, multibyte):
        key = fairness_key(tenant)
        assert len(key.encode()) <= 64 and key == fairness_key(tenant)
    assert fairness_key(long) != fairness_key(long[:-1] + "u")
    assert dispatch_priority(1, "acme") == Priority(priority_key=1, fairness_key="acme")
