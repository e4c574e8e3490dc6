"""ProviderRegistry: lazy adapters by wire protocol, per-provider concurrency limits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from activities.models.anthropic_msgs import AnthropicProvider
from activities.models.google_genai import GoogleProvider
from activities.models.openai_compat import OpenAIProvider
from activities.models.registry import ProviderRegistry
from activities.models.replay import ReplayProvider
from naestro.config.settings import ProviderConfig, Settings
from naestro.errors import ConfigError, UnknownProviderError


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    script = tmp_path / "replies.jsonl"
    script.write_text(json.dumps({"text": "hi"}) + "\n", encoding="utf-8")
    return Settings(
        providers=[
            ProviderConfig(id="gpt", engine="openai", model="g"),
            ProviderConfig(id="local", engine="ollama", model="llama", max_concurrency=2),
            ProviderConfig(id="claude", engine="anthropic", model="c"),
            ProviderConfig(id="gemini", engine="google", model="g"),
            ProviderConfig(id="replay", engine="replay", model="r", script=str(script)),
            ProviderConfig(id="broken", engine="replay", model="r"),
        ]
    )


async def test_adapters_follow_the_protocol_and_are_cached(settings: Settings) -> None:
    registry = ProviderRegistry(settings)
    try:
        assert isinstance(registry.get("gpt"), OpenAIProvider)
        assert isinstance(registry.get("local"), OpenAIProvider)
        assert isinstance(registry.get("claude"), AnthropicProvider)
        assert isinstance(registry.get("gemini"), GoogleProvider)
        assert isinstance(registry.get("replay"), ReplayProvider)
        assert registry.get("gpt") is registry.get("gpt")
    finally:
        await registry.aclose()


async def test_aclose_drops_the_adapters(settings: Settings) -> None:
    registry = ProviderRegistry(settings)
    first = registry.get("replay")
    await registry.aclose()
    assert registry.get("replay") is not first
    await registry.aclose()


def test_unknown_provider(settings: Settings) -> None:
    registry = ProviderRegistry(settings)
    with pytest.raises(UnknownProviderError, match="'nope'") as caught:
        registry.get("nope")
    assert "gpt" in str(caught.value)  # the message lists what is configured
    with pytest.raises(UnknownProviderError):
        registry.limit("nope")


def test_unusable_config_surfaces_on_first_use(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="broken"):
        ProviderRegistry(settings).get("broken")


async def test_limit_is_one_semaphore_per_provider(settings: Settings) -> None:
    registry = ProviderRegistry(settings)
    limit = registry.limit("local")
    assert registry.limit("local") is limit
    assert registry.limit("gpt") is not limit
    await limit.acquire()
    await limit.acquire()
    assert limit.locked()  # max_concurrency=2
    limit.release()
    limit.release()
