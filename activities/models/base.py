"""The ModelProvider interface every wire-protocol adapter implements, and cost accounting."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from naestro.config.settings import ProviderConfig
from naestro.contracts import ModelRequest, ModelResponse, Usage

OnProgress = Callable[[str], None]
"""Called per chunk while a reply streams in, with the chunk's text ("" when it has none):
the activity heartbeats and publishes the text as live tokens."""


class ModelProvider(Protocol):
    config: ProviderConfig

    async def complete(
        self, request: ModelRequest, on_progress: OnProgress | None = None
    ) -> ModelResponse:
        """One chat completion. Raises naestro.errors.ProviderError on provider failure."""
        ...

    async def aclose(self) -> None: ...


def cost_usd(config: ProviderConfig, usage: Usage) -> float:
    """Price a call from the provider's reported usage (per 1M tokens).

    Cached input tokens are priced at ``cached_input_per_mtok`` when configured, else as
    ordinary input. Reasoning tokens are already part of output tokens in every provider's
    usage report, so they are not added twice.
    """
    price = config.price
    cached = min(usage.cached_input_tokens, usage.input_tokens)
    cached_rate = price.cached_input_per_mtok
    if cached_rate is None:
        cached_rate = price.input_per_mtok
    fresh = usage.input_tokens - cached
    total = (
        fresh * price.input_per_mtok
        + cached * cached_rate
        + usage.output_tokens * price.output_per_mtok
    )
    return round(total / 1_000_000, 10)
