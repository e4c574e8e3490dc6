"""What leaves the gateway of a task's PII: the Slack-style approval notice carries
placeholders, and the response cache holds ciphertext (or, without a key, nothing with
PII). Each check reads the bytes sent or stored."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from api.cache import ResponseCache
from api.db import Pool, create_pool
from naestro.codec import EncryptionCodec
from naestro.config.settings import MemoryConfig
from naestro.contracts import TaskResult
from tests.api.conftest import EMAIL, PHONE, PII_CASE, Gw
from tests.api.helpers import finished, pending, until


def _prompt() -> str:
    return f"{PII_CASE} {uuid.uuid4().hex}: refund {EMAIL}, phone {PHONE}."


async def _start(http: Any, prompt: str, policy: str = "default") -> str:
    reply = await http.post("/v1/tasks", json={"prompt": prompt, "policy": policy})
    assert reply.status_code == 202, reply.text
    task_id: str = reply.json()["task_id"]
    return task_id


async def test_slack_notice_carries_placeholders_and_the_inbox_the_real_plan(
    gw: Gw, admin_key: str
) -> None:
    async with gw.http(admin_key) as http:
        task_id = await _start(http, _prompt(), "approve_plan")
        plan = await pending(http, task_id, "plan")

        async def notice() -> dict[str, Any] | None:
            return next((m for m in gw.webhook if task_id in m["text"]), None)

        message = await until(notice)
        await http.post(
            f"/v1/tasks/{task_id}/approval",
            json={"action": "reject", "stage": "plan", "content_hash": plan["content_hash"]},
        )
        await finished(http, task_id)
    sent = json.dumps(message)  # the webhook's body, as received
    assert EMAIL not in sent and PHONE not in sent
    # The task's scan gives <EMAIL_1>; a gate not given the scan masks what it detects.
    assert re.search(r"Email (<EMAIL_1>|\[EMAIL\])\. 2\. Call (<PHONE_1>|\[PHONE\])", sent)
    # The web inbox serves only the task's own tenant: it shows what is being approved.
    assert plan["preview"] == f"1. Email {EMAIL}. 2. Call {PHONE}."


async def test_cached_result_is_stored_sealed(gw: Gw, admin_key: str) -> None:
    prompt = _prompt()
    async with gw.http(admin_key) as http:
        task_id = await _start(http, prompt)
        done = await finished(http, task_id)
        hit = await http.post("/v1/tasks", json={"prompt": prompt})
    conn = await asyncpg.connect(gw.database_url)
    try:
        row = await conn.fetchrow("SELECT * FROM response_cache WHERE task_id = $1", task_id)
    finally:
        await conn.close()
    assert done["result"]["answer"] == f"Refund sent; {EMAIL} was told."
    assert row is not None and row["result"] is None
    stored = bytes(row["sealed"])
    for plain in (EMAIL, PHONE, "Refund sent", "Email", prompt.split(":")[0]):
        assert plain.encode() not in stored
    assert hit.status_code == 200 and hit.json()["cached"] is True
    assert hit.json()["result"]["answer"] == done["result"]["answer"]


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[Pool]:
    pool = await create_pool(database_url, MemoryConfig())
    yield pool
    await pool.close()


def _result(answer: str) -> TaskResult:
    return TaskResult(task_id=f"task-{uuid.uuid4().hex[:8]}", status="succeeded", answer=answer)


async def test_without_a_key_nothing_holding_pii_is_cached(pool: Pool) -> None:
    cache = ResponseCache(pool, 3600, None)
    keys = {name: uuid.uuid4().hex for name in ("pii", "clean", "prompt")}
    await cache.put(keys["pii"], "acme", _result(f"Refund sent; {EMAIL} was told."))
    clean = _result("The answer is 42.")
    await cache.put(keys["clean"], "acme", clean)
    asked = _result("")
    await cache.remember_task(asked.task_id, "acme", keys["prompt"], _prompt())
    rows = await pool.fetch(
        "SELECT cache_key, result::text, sealed FROM response_cache WHERE cache_key = ANY($1)",
        list(keys.values()),
    )
    remembered = await pool.fetchval(
        "SELECT cache_key FROM api_tasks WHERE task_id = $1", asked.task_id
    )
    assert [(r["cache_key"], r["sealed"]) for r in rows] == [(keys["clean"], None)]
    assert "The answer is 42." in rows[0]["result"]
    assert remembered is None  # its result will never be cached
    assert await cache.get(keys["clean"]) == clean


async def test_sealed_rows_open_only_under_their_key_and_with_the_codec(
    pool: Pool, codec: EncryptionCodec
) -> None:
    cache = ResponseCache(pool, 3600, codec)
    key, other = uuid.uuid4().hex, uuid.uuid4().hex
    result = _result(f"Refund sent; {EMAIL} was told.")
    await cache.put(key, "acme", result)
    sealed = await pool.fetchval("SELECT sealed FROM response_cache WHERE cache_key = $1", key)
    await pool.execute(
        "INSERT INTO response_cache (cache_key, tenant, task_id, sealed) VALUES ($1, $2, $3, $4)",
        other, "acme", result.task_id, sealed,
    )  # fmt: skip
    assert EMAIL.encode() not in bytes(sealed)
    assert await cache.get(key) == result
    assert await cache.get(other) is None  # moved to another row: does not open
    assert await ResponseCache(pool, 3600, None).get(key) is None  # no key: a miss
