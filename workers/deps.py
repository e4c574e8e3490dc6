"""The clients activities need, built once per worker process from Settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from activities.approvals import ApprovalActivities
from activities.checks import CheckActivities
from activities.models.activity import ModelActivities
from activities.models.registry import ProviderRegistry
from activities.pii import PiiActivities
from activities.routing import gauges
from activities.routing.activity import RoutingActivities
from activities.routing.governor import Governor
from activities.sandbox import make_sandbox
from activities.sandbox.activity import SandboxActivities
from activities.sandbox.cache import ReportCache
from activities.tools.activity import ToolActivities
from naestro.config.settings import Settings

if TYPE_CHECKING:
    from activities.memory.activity import MemoryActivities
    from activities.research.activity import ResearchActivities


@dataclass
class Deps:
    settings: Settings
    registry: ProviderRegistry
    models: ModelActivities
    routing: RoutingActivities
    pii: PiiActivities
    _sandbox: SandboxActivities | None = None
    governor: Governor | None = None

    _approvals: ApprovalActivities | None = None

    @property
    def approvals(self) -> ApprovalActivities:
        if self._approvals is None:
            api = self.settings.api
            self._approvals = ApprovalActivities(api.slack, api.public_url)
        return self._approvals

    _memory: MemoryActivities | None = None
    _research: ResearchActivities | None = None
    _tools: ToolActivities | None = None

    @property
    def tools(self) -> ToolActivities:
        # Built on first use; the MCP SDK is imported on the first call, by tools workers.
        if self._tools is None:
            self._tools = ToolActivities(self.settings.tools)
        return self._tools

    _checks: CheckActivities | None = None

    @property
    def checks(self) -> CheckActivities:
        # Built on first use: only sandbox workers run checks (in child processes).
        if self._checks is None:
            self._checks = CheckActivities()
        return self._checks

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

    @property
    def memory(self) -> MemoryActivities:
        # Built on first use: only memory workers load the embedder and reach Postgres.
        if self._memory is None:
            from activities.memory.activity import MemoryActivities
            from activities.memory.service import MemoryService

            self._memory = MemoryActivities(MemoryService(self.settings.memory))
        return self._memory

    @property
    def research(self) -> ResearchActivities:
        # Research jobs' findings share the memory service's pool (closed with it).
        if self._research is None:
            from activities.research.activity import ResearchActivities
            from activities.research.store import ResearchStore

            self._research = ResearchActivities(ResearchStore(self.memory.service.pool))
        return self._research

    @classmethod
    def from_settings(cls, settings: Settings) -> Deps:
        registry = ProviderRegistry(settings)
        governor = Governor(settings)  # this process's live provider health, fed by routing
        gauges.watch(governor)  # and on /metrics
        return cls(
            settings=settings,
            registry=registry,
            models=ModelActivities(registry, settings.queues.live_token_batches_per_s),
            routing=RoutingActivities(settings, governor),
            governor=governor,
            pii=PiiActivities(settings.pii),
        )

    async def aclose(self) -> None:
        await self.registry.aclose()
        if self._memory is not None:
            await self._memory.service.aclose()
        if self._sandbox is not None:
            await self._sandbox.aclose()  # warm sandbox containers go with the worker
        if self._tools is not None:
            await self._tools.aclose()  # pooled HTTP clients of MCP servers
        if self._checks is not None:
            await self._checks.aclose()  # the spare check process too
