"""The GPU side of a worker process: place the engines it supervises on this node's GPUs,
sample the GPUs, report each engine's GPU health to the pool's coordinator, and give each
GPU engine's model-call worker its slots."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import httpx
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from activities.gpu.lease import pool_config
from naestro import names
from naestro.config.settings import Settings
from naestro.contracts.gpu import GpuHealthReport
from naestro.errors import ConfigError
from naestro.telemetry import catalogue, metrics
from workers.engines.launch import endpoint
from workers.gpu.engine_lease import EngineLease
from workers.gpu.engine_load import fetch_load
from workers.gpu.nvml import Nvml, open_nvml
from workers.gpu.placement import place
from workers.gpu.slots import GpuSlots
from workers.gpu.telemetry import GpuSampler

log = logging.getLogger(__name__)
MIB = 1 << 20


class GpuNode:
    def __init__(
        self,
        client: Client,
        settings: Settings,
        engine_ids: list[str],
        nvml: Nvml | None = None,
    ) -> None:
        self._client, self.settings = client, settings
        gpu = settings.gpu
        engines = [e for e in settings.engines if e.id in engine_ids and e.gpus]
        for engine in engines:
            if engine.pool_of(gpu) != gpu.pool:
                raise ConfigError(
                    f"engines.{engine.id} runs in GPU pool {engine.pool_of(gpu)!r}, but this "
                    f"worker's gpu.pool is {gpu.pool!r} (set NAESTRO__GPU__POOL on its node)"
                )
        self.nvml = nvml or open_nvml(gpu)
        self.devices = self.nvml.devices()
        self.placements = place(engines, gpu, self.devices) if engines else {}
        self.sampler = GpuSampler(self.nvml, gpu, self.placements, publish=self._publish)
        self._leases: dict[str, EngineLease] = {}
        self._loads: dict[str, tuple[str, GpuSlots]] = {}  # engine -> (endpoint, its slots)
        if self.devices:
            self.sampler.sample(self.devices)
        log.info(
            "GPU pool %s: %d device(s)%s",
            gpu.pool,
            len(self.devices),
            "".join(f"; {e} on {','.join(k)}" for e, k in self.placements.items()),
        )

    def watch_engines(self, pids: Callable[[], dict[int, str]]) -> None:
        """Which engine each GPU process belongs to (the supervisor's running engines)."""
        self.sampler.owners = pids

    def slots(self, engine_id: str, concurrency: int) -> GpuSlots | None:
        devices = self.placements.get(engine_id)
        engine = self.settings.engine(engine_id)
        if not devices or engine is None:
            return None
        lease = self._leases.get(engine_id)  # one per engine, across its restarts
        if lease is None and self.settings.gpu.engine_lease_priority:
            lease = EngineLease(self._client, self.settings, engine_id, devices)
            self._leases[engine_id] = lease
        slots = GpuSlots(
            engine_id,
            concurrency,
            devices,
            self.sampler,
            self.settings.gpu.admit_memory_fraction,
            int(engine.call_memory_mib * MIB),
            lease=lease,
        )
        if engine.kind == "vllm":  # its KV cache and queue, from its own /metrics
            self._loads[engine_id] = (endpoint(engine), slots)
        return slots

    async def _watch_loads(self, stop: asyncio.Event) -> None:
        """Every sample period, each vLLM engine's own load, to its slots and /metrics."""
        async with httpx.AsyncClient() as client:
            while not stop.is_set():
                for engine_id, (url, slots) in list(self._loads.items()):
                    load = await fetch_load(client, url)
                    slots.observe_load(load)
                    if load is not None and load.kv_cache is not None:
                        metrics.set_gauge(
                            catalogue.ENGINE_KV_CACHE, load.kv_cache, engine=engine_id
                        )
                    if load is not None and load.waiting is not None:
                        metrics.set_gauge(catalogue.ENGINE_WAITING, load.waiting, engine=engine_id)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.settings.gpu.sample_seconds)

    async def _publish(self, report: GpuHealthReport) -> None:
        """Signal-with-start: the pool's coordinator is started by whoever needs it first."""
        await self._client.start_workflow(
            names.GPU_POOL_WORKFLOW,
            pool_config(self.settings.gpu),
            id=self.settings.gpu.coordinator_id,
            task_queue=self.settings.queues.orchestrator,
            start_signal=names.GPU_HEALTH_SIGNAL,
            start_signal_args=[report],
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )

    async def run(self, stop: asyncio.Event) -> None:
        try:
            if not self.devices and not self.placements:
                await stop.wait()
                return
            await asyncio.gather(self.sampler.run(stop), self._watch_loads(stop))
        finally:
            for lease in self._leases.values():  # engines give their GPUs back as they stop
                await lease.close()
            self.nvml.close()
