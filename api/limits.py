"""Per-caller token buckets and queue backpressure; both answer 429 with Retry-After.

Both hold across gateway replicas. The buckets live in Postgres (``rate_buckets``), taken
in one atomic statement on the database's clock, so N replicas still admit one burst per
caller; if Postgres cannot be reached, each replica falls back to a bucket of its own
(fail open: see docs/operations.md). Backpressure reads the load from Temporal visibility
(Naestro's search attributes), so it counts every gateway's tasks: tasks in model phases
against the LLM queue's capacity, code tasks verifying against the sandbox queue's. When a
queue is full, a tenant still under its fair share of it is admitted (`fair_share`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter

import asyncpg
from temporalio.client import Client

from api.db import Pool
from naestro import search
from naestro.config.gateway import ApiConfig, RateLimitConfig

log = logging.getLogger(__name__)
MODEL_PHASES = ("pii", "plan", "implement", "refine", "review")
COUNT_TTL_SECONDS = 1.0
LIST_FACTOR = 4  # a full queue's tasks listed at most, per slot of its capacity
DB_TIMEOUT_SECONDS = 1.0  # past this the shared bucket is treated as unreachable
PRUNE_EVERY_SECONDS = 600.0
FALLBACK_LOG_EVERY_SECONDS = 60.0

# One round trip: refill the caller's bucket to the database's now, take a token if one is
# there. `excluded.updated` is that now (clock_timestamp(), not the transaction's start);
# greatest() keeps a statement that waited on the row lock from moving time backwards. When
# no token is taken, the outer SELECT reads the bucket as its snapshot saw it: the deficit.
TAKE = """
WITH taken AS (
    INSERT INTO rate_buckets AS b (bucket, tokens, updated)
    VALUES ($1, $2::float8 - 1, clock_timestamp())
    ON CONFLICT (bucket) DO UPDATE SET
        tokens = least($2, b.tokens
            + $3 * greatest(0, extract(epoch FROM excluded.updated - b.updated))) - 1,
        updated = greatest(b.updated, excluded.updated)
    WHERE least($2, b.tokens
        + $3 * greatest(0, extract(epoch FROM excluded.updated - b.updated))) >= 1
    RETURNING tokens
)
SELECT EXISTS (SELECT FROM taken) AS admitted,
    (SELECT least($2, tokens
        + $3 * greatest(0, extract(epoch FROM clock_timestamp() - updated)))
     FROM rate_buckets WHERE bucket = $1) AS have
"""
# A bucket untouched for longer than it takes to refill is full: the same as no row.
PRUNE = (
    "DELETE FROM rate_buckets WHERE updated < clock_timestamp() - make_interval(secs => $1 / $2)"
)
UNREACHABLE = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


class TooBusy(Exception):
    def __init__(self, detail: str, retry_after: float) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = max(1, math.ceil(retry_after))


class LocalBuckets:
    """The same buckets in this process's memory: the fallback while Postgres is away."""

    def __init__(self, cfg: RateLimitConfig) -> None:
        self._rate = cfg.per_second
        self._burst = float(cfg.burst)
        self._buckets: dict[str, tuple[float, float]] = {}  # bucket -> (tokens, updated)

    def take(self, bucket: str) -> None:
        now = time.monotonic()
        tokens, updated = self._buckets.get(bucket, (self._burst, now))
        tokens = min(self._burst, tokens + (now - updated) * self._rate)
        if tokens < 1.0:
            self._buckets[bucket] = (tokens, now)
            raise TooBusy("rate limit exceeded", (1.0 - tokens) / self._rate)
        self._buckets[bucket] = (tokens - 1.0, now)


class RateLimiter:
    """A token bucket per caller, shared through Postgres: `burst` tokens, refilled at
    `per_second`, whichever replica the caller reaches."""

    def __init__(self, pool: Pool, cfg: RateLimitConfig) -> None:
        self._pool = pool
        self._rate = cfg.per_second
        self._burst = float(cfg.burst)
        self._local = LocalBuckets(cfg)
        self._pruned = time.monotonic()
        self._warned = -math.inf

    async def take(self, bucket: str) -> None:
        """Take a token from the caller's bucket, or raise TooBusy with the wait for one."""
        try:
            async with asyncio.timeout(DB_TIMEOUT_SECONDS):
                row = await self._shared(bucket)
        except UNREACHABLE as exc:
            self._fell_back(exc)
            self._local.take(bucket)
            return
        if not row["admitted"]:
            have = row["have"] if row["have"] is not None else 0.0
            raise TooBusy("rate limit exceeded", (1.0 - have) / self._rate)

    async def _shared(self, bucket: str) -> asyncpg.Record:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(TAKE, bucket, self._burst, self._rate)
            if time.monotonic() - self._pruned > PRUNE_EVERY_SECONDS:
                self._pruned = time.monotonic()
                await conn.execute(PRUNE, self._burst, self._rate)
        return row

    def _fell_back(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._warned > FALLBACK_LOG_EVERY_SECONDS:
            self._warned = now
            log.warning(
                "rate limit: Postgres unreachable (%s); this replica limits on its own",
                type(exc).__name__,
            )


def fair_share(capacity: int, running: Counter[str], tenant: str) -> int:
    """A tenant's share of a full queue: the capacity split evenly between the tenants with
    tasks in it and the one asking (so a tenant with none always has a share)."""
    tenants = {t for t, n in running.items() if n > 0} | {tenant}
    return math.ceil(capacity / len(tenants))


class Backpressure:
    def __init__(self, client: Client, cfg: ApiConfig) -> None:
        self._client = client
        self._cfg = cfg
        self._counts: dict[str, tuple[float, Counter[str]]] = {}

    async def _by_tenant(self, query: str, capacity: int) -> Counter[str]:
        """Running tasks matching `query`, per tenant (cached for COUNT_TTL_SECONDS). Listed
        only when the count says the queue is full; until then one count is all it costs.
        The listing stops at LIST_FACTOR x capacity (newest first, so a tenant flooding now
        is among them): the rest count as nobody's, toward the total but no tenant."""
        now = time.monotonic()
        cached = self._counts.get(query)
        if cached and now - cached[0] < COUNT_TTL_SECONDS:
            return cached[1]
        tally: Counter[str] = Counter()
        counted = (await self._client.count_workflows(query)).count
        if counted < capacity:
            tally[""] = counted  # under capacity: whose they are does not matter
        else:
            listed = 0
            async for wf in self._client.list_workflows(query, limit=LIST_FACTOR * capacity):
                tally[wf.typed_search_attributes.get(search.TENANT) or ""] += 1
                listed += 1
            if counted > listed:
                tally[""] += counted - listed
        self._counts[query] = (now, tally)
        return tally

    async def _check(self, query: str, capacity: int, tenant: str, what: str) -> None:
        running = await self._by_tenant(query, capacity)
        busy = sum(running.values())
        if busy < capacity:
            return
        share = fair_share(capacity, running, tenant)
        if running[tenant] >= share:
            raise TooBusy(
                f"{busy} tasks are {what}, {running[tenant]} of them yours (your share is "
                f"{share}); try again shortly",
                5,
            )

    async def admit(self, kind: str, tenant: str) -> None:
        """Raise TooBusy when a queue a new task of this kind needs is full and this tenant
        already has its fair share of it."""
        running = "WorkflowType = 'naestro.task' AND ExecutionStatus = 'Running'"
        phases = ", ".join(f"'{p}'" for p in MODEL_PHASES)
        models = f"{running} AND NaestroPhase IN ({phases})"
        await self._check(models, self._cfg.max_model_tasks, tenant, "waiting on models")
        if kind == "code":
            verifying = f"{running} AND NaestroPhase = 'verify'"
            await self._check(verifying, self._cfg.max_verify_tasks, tenant, "verifying")
