"""The response cache (the reflex layer): exact repeats answered from Postgres.

The key is the sha256 of the tenant, the normalised prompt, the task's kind and policy,
the model versions that policy routes to, and the memory snapshot: a change to any of them
is a different question. Only succeeded tasks are cached; entries expire after the TTL.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata

from api.db import Pool
from naestro.config.settings import Settings
from naestro.contracts import TaskRequest, TaskResult

_SPACE = re.compile(r"\s+")
BYPASS_HEADER = "X-Naestro-Cache"  # "bypass" skips the lookup; answers say "hit" or "miss"


def normalise(prompt: str) -> str:
    return _SPACE.sub(" ", unicodedata.normalize("NFC", prompt)).strip()


def model_versions(settings: Settings, policy: str) -> list[str]:
    chosen = settings.policies.get(policy)
    ids = sorted({pid for wanted in (chosen.roles.values() if chosen else []) for pid in wanted})
    found = [settings.provider(pid) for pid in ids]
    return [f"{p.id}={p.engine}:{p.model}" for p in found]


def cache_key(settings: Settings, request: TaskRequest) -> str:
    policy = settings.policies.get(request.policy)
    material = {
        "tenant": request.tenant,
        "prompt": normalise(request.prompt),
        "kind": request.kind,
        "policy": request.policy,
        "policy_settings": policy.model_dump(mode="json") if policy else None,
        "models": model_versions(settings, request.policy),
        "memory": settings.api.memory_snapshot,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


class ResponseCache:
    def __init__(self, pool: Pool, ttl_seconds: int) -> None:
        self._pool = pool
        self._ttl = ttl_seconds

    @property
    def enabled(self) -> bool:
        return self._ttl > 0

    async def get(self, key: str) -> TaskResult | None:
        if not self.enabled:
            return None
        raw = await self._pool.fetchval(
            "SELECT result FROM response_cache WHERE cache_key = $1 "
            "AND created_at > now() - make_interval(secs => $2)",
            key,
            float(self._ttl),
        )
        return None if raw is None else TaskResult.model_validate_json(raw)

    async def put(self, key: str, tenant: str, result: TaskResult) -> None:
        if not self.enabled or result.status != "succeeded":
            return
        await self._pool.execute(
            "INSERT INTO response_cache (cache_key, tenant, task_id, result) "
            "VALUES ($1, $2, $3, $4::jsonb) ON CONFLICT (cache_key) DO UPDATE "
            "SET result = EXCLUDED.result, task_id = EXCLUDED.task_id, created_at = now()",
            key,
            tenant,
            result.task_id,
            result.model_dump_json(),
        )

    async def remember_task(self, task_id: str, tenant: str, key: str | None) -> None:
        await self._pool.execute(
            "INSERT INTO api_tasks (task_id, tenant, cache_key) VALUES ($1, $2, $3) "
            "ON CONFLICT (task_id) DO NOTHING",
            task_id,
            tenant,
            key,
        )

    async def settle(self, result: TaskResult) -> None:
        """Cache a finished task's result under the key it was started with."""
        if result.status != "succeeded" or not self.enabled:
            return
        row = await self._pool.fetchrow(
            "SELECT tenant, cache_key FROM api_tasks WHERE task_id = $1", result.task_id
        )
        if row is not None and row["cache_key"]:
            await self.put(row["cache_key"], row["tenant"], result)
