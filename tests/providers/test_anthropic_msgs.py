"""AnthropicProvider against a loopback server speaking the Messages API."""

from __future__ import annotations

from contextlib import aclosing

import pytest

from activities.models.anthropic_msgs import AnthropicProvider
from naestro.config.settings import Price, ProviderConfig
from naestro.contracts import Usage
from tests.providers.conftest import KEY
from tests.providers.payloads import (
    anthropic_message,
    anthropic_stream,
    anthropic_usage,
    chat_request,
)
from tests.providers.wire import Reply, WireServer

PATH = "/v1/messages"
PRICE = Price(input_per_mtok=3.0, output_per_mtok=15.0, cached_input_per_mtok=0.3)


def config(endpoint: str, key_env: str) -> ProviderConfig:
    return ProviderConfig(
        id="claude",
        engine="anthropic",
        model="claude-test",
        endpoint=endpoint,
        api_key_env=key_env,
        price=PRICE,
    )


async def test_request_shape_usage_and_cost(wire: WireServer, key_env: str) -> None:
    usage = anthropic_usage(100, 50, cache_read=900)
    wire.script(PATH, Reply(body=anthropic_message("5.", model="claude-test-1", usage=usage)))
    async with aclosing(AnthropicProvider(config(wire.url, key_env))) as provider:
        response = await provider.complete(chat_request("claude"))

    sent = wire.last()
    assert (sent.method, sent.path) == ("POST", PATH)
    # x-api-key historically; this SDK generation sends the key as a bearer token.
    bearer = sent.headers.get("authorization", "").removeprefix("Bearer ")
    assert KEY in (sent.headers.get("x-api-key"), bearer)
    assert "anthropic-version" in sent.headers
    assert sent.body["model"] == "claude-test"
    assert sent.body["max_tokens"] == 300
    assert sent.body["system"] == "You are terse."
    assert [m["role"] for m in sent.body["messages"]] == ["user", "assistant", "user"]
    assert sent.body["messages"][-1]["content"] == "2 and 3."
    assert "stream" not in sent.body

    assert response.text == "5."
    assert response.model == "claude-test-1"
    assert response.finish_reason == "end_turn"
    # Anthropic reports cache reads beside input_tokens: Usage.input_tokens is the total.
    assert response.usage == Usage(input_tokens=1000, output_tokens=50, cached_input_tokens=900)
    assert response.cost_usd == pytest.approx((100 * 3.0 + 900 * 0.3 + 50 * 15.0) / 1e6)


async def test_cache_writes_count_as_input(wire: WireServer, key_env: str) -> None:
    usage = anthropic_usage(10, 5, cache_read=0, cache_write=2000)
    wire.script(PATH, Reply(body=anthropic_message("ok", model="claude-test", usage=usage)))
    async with aclosing(AnthropicProvider(config(wire.url, key_env))) as provider:
        response = await provider.complete(chat_request("claude"))
    assert response.usage == Usage(input_tokens=2010, output_tokens=5)


async def test_streaming_reports_progress_and_reads_usage(wire: WireServer, key_env: str) -> None:
    pieces = ["Fi", "ve", "."]
    usage = anthropic_usage(40, 7, cache_read=60)
    wire.script(PATH, anthropic_stream(pieces, model="claude-test-1", usage=usage))
    progress: list[str] = []
    async with aclosing(AnthropicProvider(config(wire.url, key_env))) as provider:
        response = await provider.complete(
            chat_request("claude", stream=True), on_progress=progress.append
        )

    assert wire.last().body["stream"] is True
    assert response.text == "Five."
    assert response.model == "claude-test-1"
    assert response.finish_reason == "end_turn"
    assert response.usage == Usage(input_tokens=100, output_tokens=7, cached_input_tokens=60)
    # message_start, content_block_start, deltas, content_block_stop, message_delta,
    # message_stop (the SDK swallows pings)
    assert len(progress) == len(pieces) + 5
    assert [p for p in progress if p] == pieces  # each piece as it arrived
