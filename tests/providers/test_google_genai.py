"""GoogleProvider against a loopback server speaking the Gemini API."""

from __future__ import annotations

from contextlib import aclosing

import pytest

from activities.models.google_genai import GoogleProvider
from naestro.config.settings import Price, ProviderConfig
from naestro.contracts import Usage
from tests.providers.conftest import KEY
from tests.providers.payloads import (
    chat_request,
    gemini_response,
    gemini_stream,
    gemini_usage,
)
from tests.providers.wire import Reply, WireServer

MODEL = "gemini-test"
PATH = f"/v1beta/models/{MODEL}:generateContent"
STREAM_PATH = f"/v1beta/models/{MODEL}:streamGenerateContent"
PRICE = Price(input_per_mtok=1.0, output_per_mtok=4.0, cached_input_per_mtok=0.25)


def config(endpoint: str, key_env: str) -> ProviderConfig:
    return ProviderConfig(
        id="gemini",
        engine="google",
        model=MODEL,
        endpoint=endpoint,
        api_key_env=key_env,
        price=PRICE,
    )


async def test_request_shape_usage_and_cost(wire: WireServer, key_env: str) -> None:
    parts = [{"text": "adding 2 and 3", "thought": True}, {"text": "5."}]
    usage = gemini_usage(1000, 100, thoughts=50, cached=200)
    wire.script(
        PATH, Reply(body=gemini_response(parts, model_version="gemini-test-001", usage=usage))
    )
    async with aclosing(GoogleProvider(config(wire.url, key_env))) as provider:
        response = await provider.complete(chat_request("gemini"))

    sent = wire.last()
    assert (sent.method, sent.path) == ("POST", PATH)
    assert sent.headers["x-goog-api-key"] == KEY
    assert sent.body["systemInstruction"]["parts"] == [{"text": "You are terse."}]
    assert [c["role"] for c in sent.body["contents"]] == ["user", "model", "user"]
    assert sent.body["contents"][1]["parts"] == [{"text": "Which numbers?"}]
    assert sent.body["generationConfig"]["maxOutputTokens"] == 300
    assert sent.body["generationConfig"]["temperature"] == 0.3

    assert response.text == "5."  # thought parts are not the answer
    assert response.model == "gemini-test-001"
    assert response.finish_reason == "STOP"
    # Thoughts are billed as output; cached tokens are part of the prompt count.
    assert response.usage == Usage(
        input_tokens=1000, output_tokens=150, cached_input_tokens=200, reasoning_tokens=50
    )
    assert response.cost_usd == pytest.approx((800 * 1.0 + 200 * 0.25 + 150 * 4.0) / 1e6)


async def test_streaming_reports_progress_and_reads_usage(wire: WireServer, key_env: str) -> None:
    pieces = ["Fi", "ve", "."]
    wire.script(
        STREAM_PATH,
        gemini_stream(pieces, model_version="gemini-test-001", usage=gemini_usage(30, 4)),
    )
    progress: list[str] = []
    async with aclosing(GoogleProvider(config(wire.url, key_env))) as provider:
        response = await provider.complete(
            chat_request("gemini", stream=True), on_progress=progress.append
        )

    assert wire.last().query == "alt=sse"
    assert response.text == "Five."
    assert response.model == "gemini-test-001"
    assert response.finish_reason == "STOP"
    assert response.usage == Usage(input_tokens=30, output_tokens=4)
    assert len(progress) == len(pieces)
    assert [p for p in progress if p] == pieces  # each piece as it arrived
