"""OpenAIProvider against a loopback server speaking chat completions."""

from __future__ import annotations

from contextlib import aclosing

import pytest

from activities.models.openai_compat import OpenAIProvider
from naestro.config.settings import Price, ProviderConfig
from naestro.contracts import Usage
from naestro.errors import ConfigError, ProviderRequestRejected
from tests.providers.conftest import KEY, UNSET_KEY_ENV
from tests.providers.payloads import (
    chat_request,
    openai_completion,
    openai_stream,
    openai_usage,
)
from tests.providers.wire import Reply, WireServer

PATH = "/v1/chat/completions"
PRICE = Price(input_per_mtok=2.0, output_per_mtok=8.0, cached_input_per_mtok=0.5)


def config(endpoint: str, *, engine: str = "openai", key_env: str | None = None) -> ProviderConfig:
    return ProviderConfig.model_validate(
        {
            "id": "gpt",
            "engine": engine,
            "model": "gpt-test",
            "endpoint": endpoint,
            "api_key_env": key_env,
            "price": PRICE,
        }
    )


async def test_request_shape_usage_and_cost(wire: WireServer, key_env: str) -> None:
    usage = openai_usage(1000, 200, cached=400, reasoning=50)
    wire.script(PATH, Reply(body=openai_completion("5.", model="gpt-test-2025-01", usage=usage)))
    async with aclosing(OpenAIProvider(config(wire.url + "/v1", key_env=key_env))) as provider:
        response = await provider.complete(chat_request("gpt"))

    sent = wire.last()
    assert (sent.method, sent.path) == ("POST", PATH)
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.body["model"] == "gpt-test"
    assert [m["role"] for m in sent.body["messages"]] == ["system", "user", "assistant", "user"]
    assert sent.body["messages"][0]["content"] == "You are terse."
    assert sent.body["max_completion_tokens"] == 300
    assert "max_tokens" not in sent.body
    assert sent.body["temperature"] == 0.3
    assert "stream" not in sent.body

    assert response.text == "5."
    assert response.model == "gpt-test-2025-01"
    assert response.provider_id == "gpt"
    assert response.finish_reason == "stop"
    assert response.usage == Usage(
        input_tokens=1000, output_tokens=200, cached_input_tokens=400, reasoning_tokens=50
    )
    assert response.cost_usd == pytest.approx((600 * 2.0 + 400 * 0.5 + 200 * 8.0) / 1e6)
    assert response.latency_ms >= 0
    assert response.scripted is False


async def test_local_engine_uses_max_tokens_and_a_placeholder_key(wire: WireServer) -> None:
    wire.script(PATH, Reply(body=openai_completion("ok", model="", usage=openai_usage(3, 1))))
    async with aclosing(OpenAIProvider(config(wire.url + "/v1", engine="vllm"))) as provider:
        response = await provider.complete(chat_request("gpt", max_tokens=64))

    sent = wire.last()
    assert sent.headers["authorization"] == "Bearer not-needed"
    assert sent.body["max_tokens"] == 64
    assert "max_completion_tokens" not in sent.body
    assert response.model == "gpt-test"  # the server named none: the configured model


async def test_streaming_reports_progress_and_reads_usage(wire: WireServer, key_env: str) -> None:
    pieces = ["Hel", "lo", " world"]
    wire.script(PATH, openai_stream(pieces, model="gpt-test-2025-01", usage=openai_usage(20, 3)))
    progress: list[str] = []
    async with aclosing(OpenAIProvider(config(wire.url + "/v1", key_env=key_env))) as provider:
        response = await provider.complete(
            chat_request("gpt", stream=True), on_progress=progress.append
        )

    sent = wire.last()
    assert sent.body["stream"] is True
    assert sent.body["stream_options"] == {"include_usage": True}
    assert response.text == "Hello world"
    assert response.finish_reason == "stop"
    assert response.model == "gpt-test-2025-01"
    assert response.usage == Usage(input_tokens=20, output_tokens=3)
    assert len(progress) == len(pieces) + 3  # role chunk, pieces, finish chunk, usage chunk
    assert [p for p in progress if p] == pieces  # each piece as it arrived


async def test_cloud_engine_without_key_fails_before_any_request(wire: WireServer) -> None:
    provider = OpenAIProvider(config(wire.url + "/v1", key_env=UNSET_KEY_ENV))
    async with aclosing(provider):
        with pytest.raises(ProviderRequestRejected, match=UNSET_KEY_ENV) as caught:
            await provider.complete(chat_request("gpt"))
    assert caught.value.provider_id == "gpt"
    assert wire.requests == []


def test_openai_compatible_engine_needs_an_endpoint() -> None:
    cfg = ProviderConfig(id="local", engine="openai-compatible", model="m")
    with pytest.raises(ConfigError, match="endpoint"):
        OpenAIProvider(cfg)
