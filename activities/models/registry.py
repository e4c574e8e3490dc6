"""Provider ids to adapters: built on first use by wire protocol, cached per worker."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from activities.models.anthropic_msgs import AnthropicProvider
from activities.models.base import ModelProvider
from activities.models.google_genai import GoogleProvider
from activities.models.openai_compat import OpenAIProvider
from activities.models.replay import ReplayProvider
from naestro.config.settings import ProviderConfig, Settings
from naestro.errors import UnknownProviderError

ADAPTERS: dict[str, Callable[[ProviderConfig], ModelProvider]] = {
    "openai": OpenAIProvider,
    "anthropic": AnthropicProvider,
    "google": GoogleProvider,
    "replay": ReplayProvider,
}


class ProviderRegistry:
    """Resolves the provider ids workflows carry (STYLE.md rule 9) to live adapters."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._providers: dict[str, ModelProvider] = {}
        self._limits: dict[str, asyncio.Semaphore] = {}

    def config(self, provider_id: str) -> ProviderConfig:
        try:
            return self.settings.provider(provider_id)
        except KeyError:
            known = ", ".join(p.id for p in self.settings.providers) or "none"
            raise UnknownProviderError(
                f"unknown provider {provider_id!r} (configured: {known})"
            ) from None

    def get(self, provider_id: str) -> ModelProvider:
        """The adapter for ``provider_id``; ConfigError if its configuration is unusable."""
        provider = self._providers.get(provider_id)
        if provider is None:
            config = self.config(provider_id)
            provider = ADAPTERS[config.protocol](config)
            self._providers[provider_id] = provider
        return provider

    def limit(self, provider_id: str) -> asyncio.Semaphore:
        """Caps this worker's concurrent calls to one provider at its ``max_concurrency``."""
        semaphore = self._limits.get(provider_id)
        if semaphore is None:
            semaphore = asyncio.Semaphore(self.config(provider_id).max_concurrency)
            self._limits[provider_id] = semaphore
        return semaphore

    async def aclose(self) -> None:
        providers, self._providers = list(self._providers.values()), {}
        await asyncio.gather(*(p.aclose() for p in providers))
