"""Which queues a process polls, and running the workers for them until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from temporalio.client import Client
from temporalio.worker import Worker

from naestro.config.settings import EngineConfig, Settings
from naestro.errors import ConfigError
from naestro.telemetry import catalogue, metrics
from naestro.telemetry.runtime import serve as serve_metrics
from workers import memory, models, orchestrator, sandbox, tools, versioning
from workers.deps import Deps

if TYPE_CHECKING:
    from workers.gpu.node import GpuNode

log = logging.getLogger(__name__)
QueueKind = Literal["orchestrator", "models", "sandbox", "memory", "gpu", "tools"]


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
    if settings.tools.servers:
        plans.append(QueuePlan(q.tools, "tools", q.tools_concurrency))
    if settings.gpu.jobs_concurrency:
        plans.append(QueuePlan(settings.gpu.jobs_queue, "gpu", settings.gpu.jobs_concurrency))
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
        elif plan.kind == "tools":
            built.append(tools.build_worker(client, deps, plan.queue, plan.concurrency))
        elif plan.kind == "gpu":
            from workers.gpu import jobs_worker  # only GPU nodes run GPU jobs

            built.append(jobs_worker.build_worker(client, deps, plan.queue, plan.concurrency))
        else:
            built.append(sandbox.build_worker(client, deps, plan.queue, plan.concurrency))
    return built


async def run_workers(
    client: Client, deps: Deps, plans: list[QueuePlan], stop: asyncio.Event
) -> None:
    """Poll the planned queues until stop is set, then shut down gracefully. A queue whose
    provider is a supervised engine (``engines:``) is polled only while that engine is ready."""
    engines = deps.settings.engines
    supervised = {deps.settings.provider(e.id).queue: e for e in engines}
    static = [p for p in plans if p.queue not in supervised]
    engine_plans = {
        supervised[p.queue].id: p
        for p in plans
        if p.queue in supervised and supervised[p.queue].autostart == "always"
    }
    node = _gpu_node(client, deps.settings, plans, list(engine_plans))
    if node is not None and not node.devices and any(p.kind == "gpu" for p in static):
        log.warning("no GPUs on this node: not polling %s", deps.settings.gpu.jobs_queue)
        static = [p for p in static if p.kind != "gpu"]
    async with contextlib.AsyncExitStack() as stack:
        address = deps.settings.telemetry.metrics_address
        if address:  # the process's metrics, the Temporal runtime's with them
            server = serve_metrics(address)
            stack.callback(server.server_close)
            stack.callback(server.shutdown)
            log.info("metrics: http://%s/metrics", address)
        for worker in build_workers(client, deps, static):
            await stack.enter_async_context(worker)
        if any(p.kind == "orchestrator" for p in static):  # this process runs workflows
            settle = asyncio.create_task(versioning.settle_current(client, deps.settings.deploy))
            settle.add_done_callback(_report_settle)
            stack.callback(settle.cancel)
        log.info("polling %d queue(s): %s", len(static), ", ".join(p.queue for p in static))
        if node is not None:
            sampling = asyncio.create_task(node.run(stop))
            stack.push_async_callback(_finish, sampling)
        if engine_plans:
            await EngineQueues(client, deps, engine_plans, node).run(stop)
        else:
            await stop.wait()
    await deps.aclose()


def _gpu_node(
    client: Client, settings: Settings, plans: list[QueuePlan], engine_ids: list[str]
) -> GpuNode | None:
    """This process owns GPUs when it runs GPU jobs or model calls of a local provider."""
    local = {p.queue for p in settings.providers if p.where == "local"}
    if not any(p.kind == "gpu" or p.queue in local for p in plans):
        return None
    from workers.gpu.node import GpuNode  # NVML and placement: only where GPUs may be

    return GpuNode(client, settings, engine_ids)


async def _finish(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


class EngineQueues:
    """The supervised engines and their queues' workers, started when an engine is ready
    and shut down (draining in-flight calls) when it stops or dies."""

    def __init__(
        self,
        client: Client,
        deps: Deps,
        plans: dict[str, QueuePlan],
        node: GpuNode | None = None,
    ) -> None:
        self._client, self._deps, self._plans, self._node = client, deps, plans, node
        self._running: dict[str, tuple[Worker, asyncio.Task[None]]] = {}

    async def run(self, stop: asyncio.Event) -> None:
        from workers.engines.resolve import resolve_model
        from workers.engines.supervisor import Supervisor

        settings = self._deps.settings
        data_dir = Path(settings.dev.data_dir)
        supervisor = Supervisor(
            settings,
            list(self._plans),
            data_dir / "engines",
            lambda engine: resolve_model(engine, data_dir),
            self._ready,
            self._down,
            self._node.placements if self._node else None,
        )
        if self._node is not None:
            self._node.watch_engines(supervisor.pids)
        await supervisor.run(stop)

    async def _ready(self, engine_id: str) -> None:
        plan = self._plans[engine_id]
        engine = self._deps.settings.engine(engine_id)
        drain = timedelta(seconds=engine.drain_seconds if engine else 30.0)
        slots = self._node.slots(engine_id, plan.concurrency) if self._node else None
        worker = models.build_worker(
            self._client,
            self._deps,
            plan.queue,
            plan.concurrency,
            graceful_shutdown=drain,
            slots=slots,
        )
        self._running[engine_id] = (worker, asyncio.create_task(worker.run()))
        metrics.set_gauge(catalogue.ENGINE_UP, 1, engine=engine_id, kind=_kind(engine))
        log.info("engine %s ready: polling %s", engine_id, plan.queue)

    async def _down(self, engine_id: str) -> None:
        engine = self._deps.settings.engine(engine_id)
        metrics.set_gauge(catalogue.ENGINE_UP, 0, engine=engine_id, kind=_kind(engine))
        running = self._running.pop(engine_id, None)
        if running is None:
            return
        worker, task = running
        log.info("engine %s down: no longer polling %s", engine_id, self._plans[engine_id].queue)
        await worker.shutdown()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _report_settle(task: asyncio.Task[None]) -> None:
    """A version that cannot be made current is a deploy problem, not a worker crash: the
    workers keep polling (they serve their pinned tasks) and the log says why."""
    if not task.cancelled() and (err := task.exception()) is not None:
        log.error("deployment version not settled: %s", err)


def _kind(engine: EngineConfig | None) -> str:
    return engine.kind if engine is not None else "unknown"
