"""Limits that hold across gateway replicas: the rate limit's buckets are shared through
Postgres (two apps on one database admit one burst between them, a restart forgets
nothing), and a full model queue still admits a tenant under its fair share of it."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from api.app import create_app
from api.db import create_pool
from api.keys import create_key
from api.limits import RateLimiter, TooBusy, fair_share
from naestro.config.gateway import RateLimitConfig
from naestro.config.settings import MemoryConfig
from tests.api.conftest import UNLIMITED, gateway, gateway_settings, serve
from tests.api.helpers import until

# Five tokens, and the next one a thousand seconds away: nothing refills during a test.
SLOW = {"rate_limit": {"per_second": 0.001, "burst": 5}}


@asynccontextmanager
async def replicas(
    client: Client, database_url: str, tmp: Path, count: int
) -> AsyncIterator[list[str]]:
    """`count` gateway apps built by api.app on one database, each on its own port."""
    settings = gateway_settings(tmp, **SLOW)
    async with AsyncExitStack() as stack:
        urls = []
        for _ in range(count):
            app = create_app(settings, client=client, database_url=database_url)
            urls.append(await stack.enter_async_context(serve(app)))
        yield urls


async def _key(database_url: str, tenant: str) -> str:
    pool = await create_pool(database_url, MemoryConfig())
    try:
        return await create_key(pool, tenant, ["tasks:read"])
    finally:
        await pool.close()


async def _get(url: str, key: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30.0) as http:
        return await http.get("/v1/models")


async def test_two_replicas_admit_one_burst_between_them(
    client: Client, database_url: str, tmp_path: Path
) -> None:
    caller = await _key(database_url, f"acme-{uuid.uuid4().hex[:6]}")
    crowd = await _key(database_url, f"acme-{uuid.uuid4().hex[:6]}")
    neighbour = await _key(database_url, f"other-{uuid.uuid4().hex[:6]}")
    async with replicas(client, database_url, tmp_path, 2) as (one, two):
        replies = [await _get((one, two)[i % 2], caller) for i in range(12)]
        at_once = await asyncio.gather(*(_get((one, two)[i % 2], crowd) for i in range(12)))
        others = [await _get(url, neighbour) for url in (one, two)]
    codes = [r.status_code for r in replies]
    assert codes == [200] * 5 + [429] * 7  # the burst once, not once per replica
    assert Counter(r.status_code for r in at_once) == {200: 5, 429: 7}  # racing, the same
    waits = {int(r.headers["Retry-After"]) for r in replies[5:]}
    assert all(900 <= wait <= 1000 for wait in waits), waits  # a token's deficit / the rate
    assert [r.status_code for r in others] == [200, 200]
    async with replicas(client, database_url, tmp_path, 1) as (restarted,):
        after_restart = await _get(restarted, caller)
    assert after_restart.status_code == 429  # the bucket outlived both processes


async def test_an_unreachable_database_falls_back_to_a_bucket_per_replica(
    fresh_url: str, pg_server: Any
) -> None:
    pool = await create_pool(fresh_url, MemoryConfig())
    limiter = RateLimiter(pool, RateLimitConfig(per_second=0.001, burst=2))
    await limiter.take("key:k1")
    await limiter.take("key:k1")
    with pytest.raises(TooBusy):
        await limiter.take("key:k1")
    admin = await asyncpg.connect(pg_server.get_uri())
    try:  # Postgres goes away under the pool: its connections end, new ones are refused
        await admin.execute(f"DROP DATABASE {urlsplit(fresh_url).path[1:]} WITH (FORCE)")
    finally:
        await admin.close()
    try:
        # Fail open to this replica's own bucket: its full burst, then 429 as before.
        await limiter.take("key:k1")
        await limiter.take("key:k1")
        with pytest.raises(TooBusy) as refused:
            await limiter.take("key:k1")
    finally:
        pool.terminate()
    assert refused.value.retry_after >= 900


async def test_a_full_model_queue_refuses_the_tenant_filling_it_not_another(
    client: Client, database_url: str
) -> None:
    flood, quiet = f"flood-{uuid.uuid4().hex[:6]}", f"quiet-{uuid.uuid4().hex[:6]}"
    started: list[tuple[httpx.AsyncClient, str]] = []
    async with gateway(client, database_url, max_model_tasks=2, **UNLIMITED) as small:
        flood_key = await small.key(flood, ("tasks:read", "tasks:write"))
        quiet_key = await small.key(quiet, ("tasks:read", "tasks:write"))
        async with small.http(flood_key) as a, small.http(quiet_key) as b:

            async def post(http: httpx.AsyncClient) -> httpx.Response:
                body = {"prompt": f"wait {time.time()}", "policy": "approve_plan"}
                reply = await http.post("/v1/tasks", json=body)
                if reply.status_code == 202:
                    started.append((http, reply.json()["task_id"]))
                return reply

            async def refused() -> httpx.Response | None:
                reply = await post(a)  # tasks waiting for plan approval: in a model phase
                return reply if reply.status_code == 429 else None

            try:
                flood_refused = await until(refused)
                quiet_admitted = await post(b)
                flood_again = await post(a)
            finally:
                for http, task_id in started:
                    await http.post(f"/v1/tasks/{task_id}/cancel")
    # Other tests' tasks share the dev server: another tenant's may be in the queue too, so
    # the share is 2 or less; the refusal says the flooding tenant has reached it.
    said = re.search(r"(\d+) of them yours \(your share is (\d+)\)", flood_refused.json()["detail"])
    assert said is not None, flood_refused.text
    assert int(said[1]) >= int(said[2]) and int(said[2]) <= 2, said[0]
    assert int(flood_refused.headers["Retry-After"]) >= 1
    assert quiet_admitted.status_code == 202, quiet_admitted.text
    assert flood_again.status_code == 429


def test_fair_share_splits_capacity_between_running_tenants_and_the_caller() -> None:
    assert fair_share(8, Counter(), "a") == 8
    assert fair_share(8, Counter({"a": 8}), "a") == 8
    assert fair_share(8, Counter({"a": 8}), "b") == 4
    assert fair_share(8, Counter({"a": 6, "b": 1, "c": 1}), "d") == 2
    assert fair_share(2, Counter({"a": 1, "b": 1, "c": 1}), "a") == 1
    assert fair_share(8, Counter({"a": 8, "b": 0}), "c") == 4  # b has none: not a tenant here
