"""The response cache (the reflex layer): exact repeats answered from Postgres.

The key is the sha256 of the tenant, the normalised prompt, the task's kind and policy,
the model versions that policy routes to, and the memory snapshot: a change to any of them
is a different question. Only succeeded tasks are cached; entries expire after the TTL.

What the cache may keep is ``naestro.pii.exposure.for_cache``'s call: with a payload codec
key (``NAESTRO_CODEC_KEYS``) every result is sealed with it (AES-256-GCM, bound to its cache
key; column ``sealed``); without one, a result is kept as plaintext (``result``) only when
neither the prompt nor the result holds PII, and otherwise not at all.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from api.db import Pool
from naestro.codec import CodecError, EncryptionCodec, seal, unseal
from naestro.config.settings import Settings
from naestro.contracts import TaskRequest, TaskResult
from naestro.pii import exposure

log = logging.getLogger(__name__)

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


_UPSERT = (
    "INSERT INTO response_cache (cache_key, tenant, task_id, result, sealed) "
    "VALUES ($1, $2, $3, $4::jsonb, $5) ON CONFLICT (cache_key) DO UPDATE "
    "SET result = EXCLUDED.result, sealed = EXCLUDED.sealed, task_id = EXCLUDED.task_id, "
    "created_at = now()"
)


class ResponseCache:
    def __init__(self, pool: Pool, ttl_seconds: int, codec: EncryptionCodec | None = None) -> None:
        self._pool = pool
        self._ttl = ttl_seconds
        self._codec = codec

    @property
    def enabled(self) -> bool:
        return self._ttl > 0

    async def _form(self, texts: Iterable[str]) -> exposure.CacheForm:
        # The PII scan is CPU work on up to a whole prompt: off the event loop.
        return await asyncio.to_thread(exposure.for_cache, self._codec is not None, list(texts))

    async def get(self, key: str) -> TaskResult | None:
        if not self.enabled:
            return None
        row = await self._pool.fetchrow(
            "SELECT result, sealed FROM response_cache WHERE cache_key = $1 "
            "AND created_at > now() - make_interval(secs => $2)",
            key,
            float(self._ttl),
        )
        return None if row is None else self._open(key, row)

    def _open(self, key: str, row: Any) -> TaskResult | None:
        if row["sealed"] is None:
            return TaskResult.model_validate_json(row["result"])
        if self._codec is None:
            return None  # sealed under a key this gateway does not hold: a miss
        try:
            return unseal(self._codec, row["sealed"], key, TaskResult)
        except CodecError as exc:  # a retired key, or a tampered row: a miss
            log.warning("response cache entry unreadable: %s", exc)
            return None

    async def put(self, key: str, tenant: str, result: TaskResult) -> None:
        if not self.enabled or result.status != "succeeded":
            return
        form = await self._form(exposure.result_texts(result))
        if form == "none":
            return
        plain = result.model_dump_json() if form == "plain" else None
        sealed = seal(self._codec, result, key) if self._codec and form == "sealed" else None
        await self._pool.execute(_UPSERT, key, tenant, result.task_id, plain, sealed)

    async def remember_task(self, task_id: str, tenant: str, key: str | None, prompt: str) -> None:
        """Which tenant started a task, and the cache key its result may be kept under
        (none when the cache may not keep it: a prompt with PII and no key to seal it)."""
        if key is not None and await self._form([prompt]) == "none":
            key = None
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
