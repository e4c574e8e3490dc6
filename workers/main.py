"""Which queues a process polls, and running the workers for them until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Literal

from temporalio.client import Client
from temporalio.worker import Worker

from naestro.config.settings import Settings
from naestro.errors import ConfigError
from workers import memory, models, orchestrator, sandbox
from workers.deps import Deps

log = logging.getLogger(__name__)
QueueKind = Literal["orchestrator", "models", "sandbox", "memory"]


@dataclass(frozen=True)
class QueuePlan:
    queue: str
    kind: QueueKind
    concurrency: int


def all_queues(settings: Settings) -> list[QueuePlan]:
    q = settings.queues
    plans = [QueuePlan(q.orchestrator, "orchestrator", 0)]
    if any(p.where == "cloud" and not p.task_queue for p in settings.providers):
        plans.append(QueuePlan(q.models_cloud, "models", q.models_cloud_concurrency))
    for p in settings.providers:
        if p.queue not in {plan.queue for plan in plans}:
            plans.append(QueuePlan(p.queue, "models", p.max_concurrency))
    plans.append(QueuePlan(q.sandbox, "sandbox", q.sandbox_concurrency))
    if settings.memory.enabled:
        plans.append(QueuePlan(q.memory, "memory", q.memory_concurrency))
    return plans


def select_queues(settings: Settings, wanted: list[str] | None) -> list[QueuePlan]:
    """Every queue when wanted is empty, else exactly those named (each must exist)."""
    plans = all_queues(settings)
    if not wanted:
        return plans
    by_name = {p.queue: p for p in plans}
    unknown = [w for w in wanted if w not in by_name]
    if unknown:
        raise ConfigError(
            f"unknown queue(s) {', '.join(unknown)}; {settings.source} declares: "
            f"{', '.join(by_name)}"
        )
    return [by_name[w] for w in wanted]


def build_workers(client: Client, deps: Deps, plans: list[QueuePlan]) -> list[Worker]:
    built = []
    for plan in plans:
        if plan.kind == "orchestrator":
            built.append(orchestrator.build_worker(client, deps, plan.queue))
        elif plan.kind == "models":
            built.append(models.build_worker(client, deps, plan.queue, plan.concurrency))
        elif plan.kind == "memory":
            built.append(memory.build_worker(client, deps, plan.queue, plan.concurrency))
        else:
            built.append(sandbox.build_worker(client, deps, plan.queue, plan.concurrency))
    return built


async def run_workers(
    client: Client, deps: Deps, plans: list[QueuePlan], stop: asyncio.Event
) -> None:
    """Poll the planned queues until stop is set, then shut down gracefully."""
    workers = build_workers(client, deps, plans)
    async with contextlib.AsyncExitStack() as stack:
        for worker in workers:
            await stack.enter_async_context(worker)
        log.info("polling %d queue(s): %s", len(plans), ", ".join(p.queue for p in plans))
        await stop.wait()
    await deps.aclose()
