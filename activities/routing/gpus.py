"""What routing knows of an engine's GPUs: the health its worker last reported to the GPU
pool's coordinator (workflows/gpu_pool.py), read with a query and kept briefly per pool.

Routing runs as a local activity on any orchestrator, while GPU telemetry is read by the
worker that owns the GPUs, perhaps on another node; the pool's coordinator workflow is where
the two meet. No coordinator, no answer in time, or a report older than
HEALTH_STALE_SECONDS (its worker is gone) is no news: the engine is not skipped for its GPUs
(the endpoint probe still is the judge of whether it serves).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError

from naestro import names
from naestro.config.settings import EngineConfig, Settings, pool_workflow_id
from naestro.contracts.gpu import HEALTH_STALE_SECONDS, GpuHealthReport, PoolView

log = logging.getLogger(__name__)
TTL_SECONDS = 2.0
QUERY_TIMEOUT = timedelta(seconds=2)
# Why an engine was skipped for its GPUs: mends by itself (memory frees, a GPU is reset).
GPU_MARKER = "(its GPUs)"


def current_client() -> Client | None:
    """The Temporal client of the activity running now (routing's local activity)."""
    try:
        return activity.client()
    except RuntimeError:  # called outside an activity (a test, a CLI check)
        return None


class GpuHealth:
    """The last GPU health report of each pool, per engine."""

    def __init__(
        self,
        settings: Settings,
        client: Callable[[], Client | None] = current_client,
        ttl_seconds: float = TTL_SECONDS,
    ) -> None:
        self._settings, self._client, self._ttl = settings, client, ttl_seconds
        self._seen: dict[str, tuple[float, GpuHealthReport | None]] = {}

    async def unhealthy(self, engine: EngineConfig) -> str | None:
        """Why the engine's GPUs cannot serve now, as its worker last said, or None."""
        if not engine.gpus:
            return None
        report = await self.report(engine.pool_of(self._settings.gpu))
        if report is None or report.at is None:
            return None
        if datetime.now(UTC) - report.at > timedelta(seconds=HEALTH_STALE_SECONDS):
            return None
        verdict = report.engine(engine.id)
        if verdict is None or verdict.ok:
            return None
        return f"{verdict.reason} {GPU_MARKER}"

    async def report(self, pool: str) -> GpuHealthReport | None:
        cached = self._seen.get(pool)
        if cached and time.monotonic() - cached[0] < self._ttl:
            return cached[1]
        report = await self._query(pool)
        self._seen[pool] = (time.monotonic(), report)
        return report

    async def _query(self, pool: str) -> GpuHealthReport | None:
        client = self._client()
        if client is None:
            return None
        handle = client.get_workflow_handle(pool_workflow_id(pool))
        try:
            view = await handle.query(
                names.GPU_POOL_QUERY, result_type=PoolView, rpc_timeout=QUERY_TIMEOUT
            )
        except (TimeoutError, RPCError) as exc:  # no coordinator yet, or no answer
            log.debug("GPU pool %s: no health (%s)", pool, exc)
            return None
        except Exception as exc:  # a query the coordinator failed: no news, not a failure
            log.info("GPU pool %s: health query failed: %s", pool, exc)
            return None
        health: GpuHealthReport | None = view.health
        return health
