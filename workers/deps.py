"""The clients activities need, built once per worker process from Settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from activities.models.activity import ModelActivities
from activities.models.registry import ProviderRegistry
from activities.pii import PiiActivities
from activities.routing import RoutingActivities
from activities.sandbox import make_sandbox
from activities.sandbox.activity import SandboxActivities
from naestro.settings import Settings

if TYPE_CHECKING:
    from activities.memory.activity import MemoryActivities


@dataclass
class Deps:
    settings: Settings
    registry: ProviderRegistry
    models: ModelActivities
    routing: RoutingActivities
    pii: PiiActivities
    _sandbox: SandboxActivities | None = None
    _memory: MemoryActivities | None = None

    @property
    def sandbox(self) -> SandboxActivities:
        # Built on first use: only sandbox workers need bubblewrap or Docker present.
        if self._sandbox is None:
            self._sandbox = SandboxActivities(make_sandbox(self.settings.sandbox))
        return self._sandbox

    @property
    def memory(self) -> MemoryActivities:
        # Built on first use: only memory workers load the embedder and reach Postgres.
        if self._memory is None:
            from activities.memory.activity import MemoryActivities
            from activities.memory.service import MemoryService

            self._memory = MemoryActivities(MemoryService(self.settings.memory))
        return self._memory

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
        if self._memory is not None:
            await self._memory.service.aclose()
