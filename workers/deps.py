"""The clients activities need, built once per worker process from Settings."""

from __future__ import annotations

from dataclasses import dataclass

from activities.models.activity import ModelActivities
from activities.models.registry import ProviderRegistry
from activities.pii import PiiActivities
from activities.routing import RoutingActivities
from activities.sandbox import make_sandbox
from activities.sandbox.activity import SandboxActivities
from activities.sandbox.cache import ReportCache
from naestro.settings import Settings


@dataclass
class Deps:
    settings: Settings
    registry: ProviderRegistry
    models: ModelActivities
    routing: RoutingActivities
    pii: PiiActivities
    _sandbox: SandboxActivities | None = None

    @property
    def sandbox(self) -> SandboxActivities:
        # Built on first use: only sandbox workers need bubblewrap or Docker present.
        if self._sandbox is None:
            config = self.settings.sandbox
            self._sandbox = SandboxActivities(
                make_sandbox(config),
                cache=ReportCache(config.cache_entries),
                factory=lambda backend: make_sandbox(
                    config.model_copy(update={"backend": backend})
                ),
            )
        return self._sandbox

    @classmethod
    def from_settings(cls, settings: Settings) -> Deps:
        registry = ProviderRegistry(settings)
        return cls(
            settings=settings,
            registry=registry,
            models=ModelActivities(registry),
            routing=RoutingActivities(settings),
            pii=PiiActivities(settings.pii),
        )

    async def aclose(self) -> None:
        await self.registry.aclose()
        if self._sandbox is not None:
            await self._sandbox.aclose()  # warm sandbox containers go with the worker
