"""Every adapter maps provider failures the same way: status, Retry-After, retryability."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from datetime import timedelta

import pytest

from activities.models.anthropic_msgs import AnthropicProvider
from activities.models.base import ModelProvider
from activities.models.google_genai import GoogleProvider
from activities.models.openai_compat import OpenAIProvider
from naestro.config.settings import ProviderConfig
from naestro.errors import ProviderError, ProviderRequestRejected, to_application_error
from tests.providers.payloads import (
    anthropic_error,
    chat_request,
    gemini_error,
    openai_error,
    sse,
)
from tests.providers.wire import Reply, WireServer, closed_port


@dataclass(frozen=True)
class Wire:
    """How one protocol is reached on the loopback server and how it spells an error."""

    name: str
    engine: str
    suffix: str  # appended to the server's URL to make the endpoint
    path: str
    error: Callable[[int, str, Mapping[str, str] | None], Reply]
    adapter: Callable[[ProviderConfig], ModelProvider]

    def provider(self, base_url: str, key_env: str) -> ModelProvider:
        config = ProviderConfig(
            id=f"{self.name}-1",
            engine=self.engine,
            model="m-test",
            endpoint=base_url + self.suffix,
            api_key_env=key_env,
        )
        return self.adapter(config)


WIRES = [
    Wire("openai", "openai", "/v1", "/v1/chat/completions", openai_error, OpenAIProvider),
    Wire("anthropic", "anthropic", "", "/v1/messages", anthropic_error, AnthropicProvider),
    Wire(
        "google",
        "google",
        "",
        "/v1beta/models/m-test:generateContent",
        lambda status, message, headers: gemini_error(status, message, headers),
        GoogleProvider,
    ),
]


@pytest.fixture(params=WIRES, ids=lambda w: w.name)
def proto(request: pytest.FixtureRequest) -> Wire:
    wire: Wire = request.param
    return wire


async def fail(proto: Wire, wire: WireServer, key_env: str, reply: Reply) -> ProviderError:
    wire.script(proto.path, reply)
    async with aclosing(proto.provider(wire.url, key_env)) as provider:
        with pytest.raises(ProviderError) as caught:
            await provider.complete(chat_request("x"))
    return caught.value


async def test_429_is_retryable_after_the_servers_delay(
    proto: Wire, wire: WireServer, key_env: str
) -> None:
    reply = proto.error(429, "slow down", {"Retry-After": "2"})
    error = await fail(proto, wire, key_env, reply)

    assert not isinstance(error, ProviderRequestRejected)
    assert (error.status, error.retry_after) == (429, 2.0)
    assert len(wire.requests) == 1, "the SDK must not retry: Temporal does"
    app = to_application_error(error)
    assert app.non_retryable is False
    assert app.next_retry_delay == timedelta(seconds=2)
    assert app.type == "ProviderError"


async def test_401_is_rejected_for_good(proto: Wire, wire: WireServer, key_env: str) -> None:
    error = await fail(proto, wire, key_env, proto.error(401, "bad key", None))

    assert isinstance(error, ProviderRequestRejected)
    assert error.status == 401
    app = to_application_error(error)
    assert app.non_retryable is True
    assert app.type == "ProviderRequestRejected"
    assert f"{proto.name}-1" in app.message
    assert "401" in app.message
    assert "bad key" in app.message


async def test_503_is_retryable(proto: Wire, wire: WireServer, key_env: str) -> None:
    error = await fail(proto, wire, key_env, proto.error(503, "overloaded", None))

    assert not isinstance(error, ProviderRequestRejected)
    assert (error.status, error.retry_after) == (503, None)
    assert len(wire.requests) == 1
    assert to_application_error(error).non_retryable is False


async def test_retry_after_ms_wins(proto: Wire, wire: WireServer, key_env: str) -> None:
    reply = proto.error(429, "slow down", {"retry-after-ms": "1500", "Retry-After": "9"})
    error = await fail(proto, wire, key_env, reply)
    assert error.retry_after == 1.5


async def test_connection_refused_is_retryable(proto: Wire, key_env: str) -> None:
    provider = proto.provider(f"http://127.0.0.1:{closed_port()}", key_env)
    async with aclosing(provider):
        with pytest.raises(ProviderError) as caught:
            await provider.complete(chat_request("x"))

    error = caught.value
    assert not isinstance(error, ProviderRequestRejected)
    assert error.status is None
    app = to_application_error(error)
    assert app.non_retryable is False
    assert f"{proto.name}-1" in app.message


async def test_gemini_retry_info_becomes_retry_after(wire: WireServer, key_env: str) -> None:
    retry_info = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}
    proto = WIRES[2]
    error = await fail(proto, wire, key_env, gemini_error(429, "quota", details=[retry_info]))
    assert (error.status, error.retry_after) == (429, 7.0)


async def test_openai_error_inside_a_stream_is_retryable(wire: WireServer, key_env: str) -> None:
    proto = WIRES[0]
    wire.script(proto.path, Reply(events=(sse({"error": {"message": "engine died"}}),)))
    async with aclosing(proto.provider(wire.url, key_env)) as provider:
        with pytest.raises(ProviderError, match="engine died") as caught:
            await provider.complete(chat_request("x", stream=True))
    assert caught.value.status is None
    assert to_application_error(caught.value).non_retryable is False


async def test_anthropic_error_event_inside_a_stream_is_retryable(
    wire: WireServer, key_env: str
) -> None:
    proto = WIRES[1]
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}
    wire.script(proto.path, Reply(events=(sse(overloaded, "error"),)))
    async with aclosing(proto.provider(wire.url, key_env)) as provider:
        with pytest.raises(ProviderError, match="busy") as caught:
            await provider.complete(chat_request("x", stream=True))
    assert caught.value.status is None
    assert to_application_error(caught.value).non_retryable is False
