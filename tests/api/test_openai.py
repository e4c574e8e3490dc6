"""The official `openai` client against the OpenAI-compatible endpoint, unchanged."""

from __future__ import annotations

import uuid
from typing import Any

import openai
import pytest

from tests.api.conftest import Gw


def _client(gw: Gw, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0)


async def test_models_and_completion(gw: Gw, admin_key: str) -> None:
    client = _client(gw, admin_key)
    models = [m.id async for m in client.models.list()]
    reply = await client.chat.completions.create(
        model="naestro-task",
        messages=[{"role": "user", "content": f"What is six times seven? {uuid.uuid4()}"}],
    )
    await client.close()
    assert "naestro-task" in models and "naestro-task:approve_plan" in models
    assert reply.choices[0].message.content == "The answer is 42."
    assert reply.usage is not None and reply.usage.total_tokens > 0


async def test_streaming_completion(gw: Gw, admin_key: str) -> None:
    client = _client(gw, admin_key)
    stream = await client.chat.completions.create(
        model="naestro-task:default",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": f"Stream it {uuid.uuid4()}"},
        ],
        stream=True,
    )
    parts = [chunk.choices[0].delta.content or "" async for chunk in stream]
    await client.close()
    assert "".join(parts) == "The answer is 42."


async def test_unknown_model_is_refused(gw: Gw, admin_key: str) -> None:
    client = _client(gw, admin_key)
    with pytest.raises(openai.NotFoundError, match="unknown model"):
        await client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
        )
    await client.close()


async def test_failed_task_is_a_502_or_an_in_band_stream_error(gw: Gw, admin_key: str) -> None:
    client = _client(gw, admin_key)
    messages: list[Any] = [{"role": "user", "content": f"fail {uuid.uuid4()}"}]
    with pytest.raises(openai.APIStatusError, match="no usable provider") as failed:
        await client.chat.completions.create(model="naestro-task:broken", messages=messages)
    messages = [{"role": "user", "content": f"fail {uuid.uuid4()}"}]
    stream = await client.chat.completions.create(
        model="naestro-task:broken", messages=messages, stream=True
    )
    with pytest.raises(openai.APIError, match="no usable provider"):
        async for _ in stream:
            pass
    await client.close()
    assert failed.value.status_code == 502


async def test_consensus_model_deliberates_and_reports_confidence(gw: Gw, admin_key: str) -> None:
    client = _client(gw, admin_key)
    models = [m.id async for m in client.models.list()]
    reply = await client.chat.completions.create(
        model="naestro-consensus",
        messages=[{"role": "user", "content": f"What is six times seven? {uuid.uuid4()}"}],
    )
    await client.close()
    assert "naestro-consensus" in models
    assert reply.choices[0].message.content == "The answer is 42."
    extra = reply.model_extra or {}
    assert extra["naestro"]["status"] == "succeeded"
    assert 0.0 < extra["naestro"]["confidence"] <= 1.0
