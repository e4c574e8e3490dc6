"""ModelActivities.complete in an ActivityEnvironment: heartbeats, limits, error mapping."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.models.activity import ModelActivities
from activities.models.registry import ProviderRegistry
from naestro.config.settings import ProviderConfig, Settings
from naestro.contracts import ChatMessage, ModelRequest
from tests.providers.conftest import UNSET_KEY_ENV
from tests.providers.payloads import chat_request, openai_error, openai_stream, openai_usage
from tests.providers.wire import WireServer

PATH = "/v1/chat/completions"
Env = tuple[ActivityEnvironment, list[tuple[Any, ...]]]  # the environment, its heartbeats


@pytest.fixture
async def registry(
    wire: WireServer, key_env: str, tmp_path: Path
) -> AsyncIterator[ProviderRegistry]:
    script = tmp_path / "replies.jsonl"
    script.write_text(json.dumps({"text": "scripted"}) + "\n", encoding="utf-8")
    settings = Settings(
        providers=[
            ProviderConfig(
                id="gpt",
                engine="openai",
                model="gpt-test",
                endpoint=wire.url + "/v1",
                api_key_env=key_env,
            ),
            ProviderConfig(
                id="slow",
                engine="replay",
                model="r",
                script=str(script),
                simulated_latency_ms=150,
                max_concurrency=1,
            ),
        ]
    )
    registry = ProviderRegistry(settings)
    yield registry
    await registry.aclose()


@pytest.fixture
def activity_env() -> Env:
    environment = ActivityEnvironment()
    beats: list[tuple[Any, ...]] = []
    environment.on_heartbeat = lambda *details: beats.append(details)
    return environment, beats


def replay_request(content: str = "hi", *, stream: bool = False) -> ModelRequest:
    return ModelRequest(
        provider_id="slow",
        role="critic",
        phase="review",
        stream=stream,
        messages=[ChatMessage(role="user", content=content)],
    )


async def test_streaming_call_heartbeats_as_chunks_come_once_an_interval(
    wire: WireServer, registry: ProviderRegistry, activity_env: Env
) -> None:
    """Chunks heartbeat, at most once per heartbeat interval (here 5 s, no timeout set):
    four chunks in a burst, one heartbeat, not one per token."""
    environment, beats = activity_env
    pieces = ["a", "b", "c", "d"]
    wire.script(PATH, openai_stream(pieces, model="gpt-test", usage=openai_usage(5, 4)))

    response = await environment.run(
        ModelActivities(registry).complete, chat_request("gpt", stream=True)
    )

    assert response.text == "abcd"
    assert response.usage.output_tokens == 4
    assert len(beats) == 1


async def test_a_slow_stream_heartbeats_while_its_chunks_flow(
    registry: ProviderRegistry, activity_env: Env
) -> None:
    """A 60 ms heartbeat timeout: a heartbeat every 30 ms while the chunks of a 150 ms
    streamed reply flow, so the call is not timed out while it writes."""
    environment, beats = activity_env
    environment.info = dataclasses.replace(
        environment.info, heartbeat_timeout=timedelta(milliseconds=60)
    )
    request = replay_request(stream=True)
    response = await environment.run(ModelActivities(registry).complete, request)
    assert response.text == "scripted"
    assert len(beats) >= 2


async def test_non_streaming_call_heartbeats_on_a_timer(
    registry: ProviderRegistry, activity_env: Env
) -> None:
    environment, beats = activity_env
    environment.info = dataclasses.replace(
        environment.info, heartbeat_timeout=timedelta(milliseconds=60)
    )
    response = await environment.run(ModelActivities(registry).complete, replay_request())
    assert response.scripted is True
    assert len(beats) >= 2  # every 30 ms across 150 ms of simulated latency


async def test_no_heartbeat_timeout_is_fine(registry: ProviderRegistry, activity_env: Env) -> None:
    environment, beats = activity_env
    assert environment.info.heartbeat_timeout is None
    response = await environment.run(ModelActivities(registry).complete, replay_request())
    assert response.text == "scripted"
    assert beats == []  # the 5 s timer never fired during a 150 ms call


async def test_provider_concurrency_is_capped(
    registry: ProviderRegistry, activity_env: Env
) -> None:
    environment, _ = activity_env
    activities = ModelActivities(registry)
    started = time.monotonic()
    await asyncio.gather(
        environment.run(activities.complete, replay_request("one")),
        environment.run(activities.complete, replay_request("two")),
    )
    assert time.monotonic() - started >= 0.3  # max_concurrency=1: one after the other


async def test_401_becomes_a_non_retryable_application_error(
    wire: WireServer, registry: ProviderRegistry, activity_env: Env
) -> None:
    environment, _ = activity_env
    wire.script(PATH, openai_error(401, "invalid key"))
    with pytest.raises(ApplicationError) as caught:
        await environment.run(ModelActivities(registry).complete, chat_request("gpt"))
    assert caught.value.type == "ProviderRequestRejected"
    assert caught.value.non_retryable is True
    assert "401" in caught.value.message


async def test_429_carries_the_servers_delay(
    wire: WireServer, registry: ProviderRegistry, activity_env: Env
) -> None:
    environment, _ = activity_env
    wire.script(PATH, openai_error(429, "slow down", {"Retry-After": "2"}))
    with pytest.raises(ApplicationError) as caught:
        await environment.run(ModelActivities(registry).complete, chat_request("gpt"))
    assert caught.value.type == "ProviderError"
    assert caught.value.non_retryable is False
    assert caught.value.next_retry_delay == timedelta(seconds=2)


async def test_unknown_provider_is_non_retryable(
    registry: ProviderRegistry, activity_env: Env
) -> None:
    environment, _ = activity_env
    with pytest.raises(ApplicationError) as caught:
        await environment.run(ModelActivities(registry).complete, chat_request("nope"))
    assert caught.value.type == "UnknownProviderError"
    assert caught.value.non_retryable is True


async def test_logs_name_the_call_but_never_its_contents(
    registry: ProviderRegistry,
    activity_env: Env,
    caplog: pytest.LogCaptureFixture,
) -> None:
    environment, _ = activity_env
    caplog.set_level(logging.INFO)
    await environment.run(ModelActivities(registry).complete, replay_request("SECRET-4242"))
    assert "provider=slow" in caplog.text
    assert "SECRET-4242" not in caplog.text
    assert "scripted" not in caplog.text.replace("scripted=True", "")  # nor the reply


async def test_missing_api_key_is_non_retryable(wire: WireServer, activity_env: Env) -> None:
    environment, _ = activity_env
    settings = Settings(
        providers=[
            ProviderConfig(
                id="gpt",
                engine="openai",
                model="m",
                endpoint=wire.url + "/v1",
                api_key_env=UNSET_KEY_ENV,
            ),
        ]
    )
    registry = ProviderRegistry(settings)
    try:
        with pytest.raises(ApplicationError) as caught:
            await environment.run(ModelActivities(registry).complete, chat_request("gpt"))
    finally:
        await registry.aclose()
    assert caught.value.type == "ProviderRequestRejected"
    assert wire.requests == []
    assert caught.value.non_retryable is True
