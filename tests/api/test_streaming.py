"""Live tokens through the gateway: a loopback model (OpenAI's wire protocol, real HTTP)
writes its reply slowly; the first token reaches an SSE client and the official `openai`
streaming client long before the model is done; an SSE stream resumes on a restarted
gateway where it left off."""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from temporalio.client import Client

from api.app import create_app
from api.db import create_pool
from api.keys import create_key
from naestro.config.settings import Settings
from tests.api.conftest import serve
from tests.providers.payloads import openai_stream, openai_usage
from tests.providers.wire import WireServer
from tests.support import make_settings, running_workers

MODEL = "slow-model"
PIECES = [f"word{i} " for i in range(16)]
GAP_S = 0.2  # between the slow reply's pieces: ~3 s for the whole reply
VERDICT = json.dumps({"verdict": "accept", "score": 0.9, "rationale": "fine"})


@pytest.fixture
def wire() -> Iterator[WireServer]:
    with WireServer() as server:
        server.serve_models(MODEL)
        yield server


def script(wire: WireServer) -> None:
    """Plan (quick), implement (slow: the reply under test), review (quick)."""
    usage = openai_usage(30, 16)
    plan = openai_stream(["1. Write. ", "2. Check."], model=MODEL, usage=usage)
    slow = openai_stream(PIECES, model=MODEL, usage=usage)
    slow = type(slow)(events=slow.events, frame_gap_s=GAP_S)
    verdict = openai_stream([VERDICT], model=MODEL, usage=usage)
    wire.script("/v1/chat/completions", plan, slow, verdict)


def settings_for(tmp: Path, wire: WireServer) -> Settings:
    engine = {"id": "loop", "engine": "vllm", "model": MODEL, "endpoint": f"{wire.url}/v1"}
    policy = {"stream": True, "live_tokens_ms": 100}
    unlimited = {"rate_limit": {"per_second": 1000.0, "burst": 1000}, "auth_cache_seconds": 0}
    return make_settings(tmp, [engine], policy=policy, api=unlimited)


@asynccontextmanager
async def gateway_on(client: Client, settings: Settings, database_url: str) -> AsyncIterator[str]:
    app = create_app(settings, client=client, database_url=database_url)
    async with serve(app) as url:
        yield url


async def key_for(settings: Settings, database_url: str) -> str:
    pool = await create_pool(database_url, settings.memory)
    try:
        return await create_key(pool, "acme", ["admin"])
    finally:
        await pool.close()


async def sse_lines(reply: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    current: dict[str, Any] = {}
    async for line in reply.aiter_lines():
        if not line:
            if "data" in current:
                current["data"] = json.loads(current["data"])
                current["at"] = time.monotonic()
                yield current
            current = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            current[name] = value.strip()


def implement_tokens(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == "token" and e["data"]["phase"] == "implement"]


async def test_first_token_reaches_sse_long_before_the_model_is_done_and_resumes_elsewhere(
    client: Client, database_url: str, wire: WireServer
) -> None:
    script(wire)
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_for(Path(tmp), wire)
        key = await key_for(settings, database_url)
        headers = {"Authorization": f"Bearer {key}"}
        first: list[dict[str, Any]] = []
        async with running_workers(client, settings):
            async with gateway_on(client, settings, database_url) as url:
                async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
                    started = await http.post("/v1/tasks", json={"prompt": f"Go {uuid.uuid4()}"})
                    task_id = started.json()["task_id"]
                    path = f"/v1/tasks/{task_id}/events"
                    async with http.stream("GET", path) as reply:
                        async for event in sse_lines(reply):
                            first.append(event)
                            if len(implement_tokens(first)) == 4:
                                break  # hang up mid-reply; this gateway then goes away
            # A new gateway (another process, as far as the client can tell) picks up.
            async with gateway_on(client, settings, database_url) as url:
                async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
                    resume = {"Last-Event-ID": first[-1]["id"]}
                    async with http.stream("GET", path, headers=resume) as reply:
                        rest = [event async for event in sse_lines(reply)]

    whole = first + rest
    assert whole[-1]["event"] == "status" and whole[-1]["data"]["data"]["status"] == "succeeded"
    ids = [e["id"] for e in whole]
    assert len(ids) == len(set(ids))  # nothing twice across the restart
    seqs = [e["data"]["seq"] for e in whole if e["event"] not in ("token", "gap")]
    assert seqs == list(range(1, len(seqs) + 1))  # and no progress event lost
    tokens = implement_tokens(whole)
    assert "".join(t["data"]["text"] for t in tokens) == "".join(PIECES)
    assert tokens[-1]["data"]["final"]
    reply_done = next(
        e["at"]
        for e in whole
        if e["event"] == "model_call" and e["data"]["data"]["phase"] == "implement"
    )
    # The first piece came when the model had written one of 16 pieces (~3 s in all).
    assert reply_done - tokens[0]["at"] > GAP_S * len(PIECES) / 2


async def test_openai_streaming_client_gets_live_tokens_then_the_answer_and_usage(
    client: Client, database_url: str, wire: WireServer
) -> None:
    script(wire)
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_for(Path(tmp), wire)
        key = await key_for(settings, database_url)
        async with running_workers(client, settings):
            async with gateway_on(client, settings, database_url) as url:
                api = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
                stream = await api.chat.completions.create(
                    model="naestro-task",
                    messages=[{"role": "user", "content": f"Go {uuid.uuid4()}"}],
                    stream=True,
                )
                chunks = [(time.monotonic(), chunk) async for chunk in stream]
                await api.close()

    live = [
        (at, extra["reasoning_content"])
        for at, chunk in chunks
        if chunk.choices
        and (extra := chunk.choices[0].delta.model_extra or {})
        and extra.get("reasoning_content")
    ]
    answer = "".join(c.choices[0].delta.content or "" for _, c in chunks if c.choices)
    end = chunks[-1][0]
    assert "word0" in live[0][1] or any("word0" in text for _, text in live)
    first_word = next(at for at, text in live if "word0" in text)
    assert end - first_word > GAP_S * len(PIECES) / 2  # long before the model was done
    assert "".join(text for _, text in live).count("word15") == 1
    assert answer == "".join(PIECES)
    last = chunks[-1][1]
    assert last.choices[0].finish_reason == "stop"
    assert last.usage is not None and last.usage.completion_tokens > 0
