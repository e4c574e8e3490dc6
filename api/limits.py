"""Per-caller token buckets and queue backpressure; both answer 429 with Retry-After.

Backpressure reads the load from Temporal visibility (Naestro's search attributes), so it
counts every gateway's tasks, not just this process's: tasks in model phases against the
LLM queue's capacity, code tasks verifying against the sandbox queue's.
"""

from __future__ import annotations

import math
import time

from temporalio.client import Client

from naestro.config.gateway import ApiConfig, RateLimitConfig

MODEL_PHASES = ("pii", "plan", "implement", "refine", "review")
COUNT_TTL_SECONDS = 1.0


class TooBusy(Exception):
    def __init__(self, detail: str, retry_after: float) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = max(1, math.ceil(retry_after))


class RateLimiter:
    """A token bucket per caller: `burst` tokens, refilled at `per_second`."""

    def __init__(self, cfg: RateLimitConfig) -> None:
        self._rate = cfg.per_second
        self._burst = float(cfg.burst)
        self._buckets: dict[str, tuple[float, float]] = {}  # caller -> (tokens, updated)

    def take(self, caller: str) -> None:
        now = time.monotonic()
        tokens, updated = self._buckets.get(caller, (self._burst, now))
        tokens = min(self._burst, tokens + (now - updated) * self._rate)
        if tokens < 1.0:
            self._buckets[caller] = (tokens, now)
            raise TooBusy("rate limit exceeded", (1.0 - tokens) / self._rate)
        self._buckets[caller] = (tokens - 1.0, now)


class Backpressure:
    def __init__(self, client: Client, cfg: ApiConfig) -> None:
        self._client = client
        self._cfg = cfg
        self._counts: dict[str, tuple[float, int]] = {}

    async def _count(self, query: str) -> int:
        now = time.monotonic()
        cached = self._counts.get(query)
        if cached and now - cached[0] < COUNT_TTL_SECONDS:
            return cached[1]
        counted = await self._client.count_workflows(query)
        self._counts[query] = (now, counted.count)
        return counted.count

    async def admit(self, kind: str) -> None:
        """Raise TooBusy when the queues a new task of this kind needs are full."""
        running = "WorkflowType = 'naestro.task' AND ExecutionStatus = 'Running'"
        phases = ", ".join(f"'{p}'" for p in MODEL_PHASES)
        busy = await self._count(f"{running} AND NaestroPhase IN ({phases})")
        if busy >= self._cfg.max_model_tasks:
            raise TooBusy(f"{busy} tasks are waiting on models; try again shortly", 5)
        if kind == "code":
            verifying = await self._count(f"{running} AND NaestroPhase = 'verify'")
            if verifying >= self._cfg.max_verify_tasks:
                raise TooBusy(f"{verifying} code tasks are verifying; try again shortly", 5)
