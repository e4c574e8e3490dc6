"""Large inputs at the API: over the limits, 413 with the limit named and nothing started;
with the limits raised, a 3 MB prompt runs and its history holds references only."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.service import idempotent_id
from naestro.codec import EncryptionCodec
from tests.api.conftest import Gw, serve
from tests.api.helpers import finished
from tests.payloads.helpers import history_payloads, huge_prompt, references, storing_client
from tests.payloads.helpers import storing_converter as storing
from tests.support import make_settings, replay_provider, running_workers, write_script

THRESHOLD = 256 * 1024
BIG_BUDGET = {"max_tokens": 20_000_000, "max_usd": 100.0}


async def _count(client: Client, tenant: str) -> int:
    return (await client.count_workflows(f"NaestroTenant = '{tenant}'")).count


async def _unknown(client: Client, workflow_id: str) -> bool:
    workflows = [w async for w in client.list_workflows(f"WorkflowId = '{workflow_id}'")]
    return not workflows


async def test_a_3mb_prompt_is_413_naming_the_limit_and_starts_nothing(
    gw: Gw, client: Client
) -> None:
    tenant = f"big-{uuid.uuid4().hex[:8]}"
    key, idem = await gw.key(tenant), uuid.uuid4().hex
    prompt = huge_prompt(tenant)
    async with gw.http(key) as http:
        task = await http.post(
            "/v1/tasks", json={"prompt": prompt}, headers={"Idempotency-Key": idem}
        )
        chat = await http.post(
            "/v1/chat/completions",
            json={"model": "naestro-task", "messages": [{"role": "user", "content": prompt}]},
        )
        research = await http.post("/v1/research", json={"goal": prompt})
    for reply in (task, chat, research):
        assert reply.status_code == 413, reply.text
        body = reply.json()
        assert body["detail"].startswith("body: ")
        assert "over the limit of 1000000 (api.max_body_bytes)" in body["detail"]
        assert "100000 characters (api.max_prompt_chars)" in body["detail"]
        assert body["error"]["message"] == body["detail"]  # OpenAI clients show it too
    assert await _unknown(client, idempotent_id(tenant, idem))
    assert await _count(client, tenant) == 0


async def test_a_chunked_body_is_counted_as_it_streams(gw: Gw, admin_key: str) -> None:
    prompt = huge_prompt("chunked")
    body = ('{"prompt": "' + prompt + '"}').encode()

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked encoding
        for i in range(0, len(body), 64 * 1024):
            yield body[i : i + 64 * 1024]

    headers = {"Content-Type": "application/json"}
    async with gw.http(admin_key) as http:
        replies = [await http.post(path, content=chunks(), headers=headers) for path in
                   ("/v1/tasks", "/v1/chat/completions", "/v1/research")]  # fmt: skip
    for reply in replies:
        assert reply.status_code == 413, reply.text
        assert "over the limit of 1000000 (api.max_body_bytes)" in reply.json()["detail"]


async def test_a_prompt_over_max_prompt_chars_is_413(gw: Gw, client: Client) -> None:
    tenant = f"long-{uuid.uuid4().hex[:8]}"
    key = await gw.key(tenant)
    prompt = "x" * 100_001  # fits the body, not the prompt limit
    expected = "prompt: 100001 characters, over the limit of 100000 (api.max_prompt_chars)"
    async with gw.http(key) as http:
        task = await http.post("/v1/tasks", json={"prompt": prompt})
        chat = await http.post(
            "/v1/chat/completions",
            json={"model": "naestro-task", "messages": [{"role": "user", "content": prompt}]},
        )
    for reply in (task, chat):
        assert reply.status_code == 413, reply.text
        assert reply.json()["detail"] == expected
    assert await _count(client, tenant) == 0


def _raised_settings(tmp: Path) -> Any:
    rules = [
        {"role": "judge", "text": '{"verdict": "accept", "score": 0.9, "rationale": "ok"}'},
        {"text": "Worker 7 restarts after timeouts."},
    ]
    script = write_script(tmp / "script.jsonl", rules)
    api = {"max_prompt_chars": 4_000_000, "max_body_bytes": 5_000_000, "cache_ttl_seconds": 0}
    return make_settings(
        tmp, [replay_provider(script, context_window=4_000_000)], {"plan": False}, api=api
    )


async def test_with_the_limit_raised_a_3mb_prompt_runs_by_reference(
    env: WorkflowEnvironment, codec: EncryptionCodec, database_url: str, tmp_path: Path
) -> None:
    from api.db import create_pool
    from api.keys import create_key

    settings = _raised_settings(tmp_path)
    client = await storing_client(env, storing(codec, database_url, THRESHOLD))
    pool = await create_pool(database_url, settings.memory)  # migrated: blobs included
    try:
        key = await create_key(pool, "acme", ["admin"])
    finally:
        await pool.close()
    prompt = huge_prompt(uuid.uuid4().hex)
    async with running_workers(client, settings):
        app = create_app(settings, client=client, database_url=database_url)
        async with serve(app) as url:
            headers = {"Authorization": f"Bearer {key}"}
            async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
                started = await http.post(
                    "/v1/tasks", json={"prompt": prompt, "budget": BIG_BUDGET}
                )
                assert started.status_code == 202, started.text
                done = await finished(http, started.json()["task_id"])
    assert done["result"]["status"] == "succeeded", done["result"]["reason"]
    assert done["result"]["answer"] == "Worker 7 restarts after timeouts."
    handle = client.get_workflow_handle(started.json()["task_id"])
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    history = await handle.fetch_history()
    assert max(p.ByteSize() for p in history_payloads(history)) < THRESHOLD
    assert references(history)
