"""Policy resolution: a policy's settings and one provider per role, checked at task start.

The task fails fast (a clear NoProviderError) when a role has no usable provider at all;
when one may come (a local engine loading or restarting) it is NoProviderReady, and the
task waits for it. Each call is then routed afresh (activities/routing/calls.py).
"""

from __future__ import annotations

from activities.routing.providers import Providers, routed, transient
from naestro.config.settings import PolicyConfig, ProviderConfig
from naestro.contracts import PolicySpec, RoutedProvider, RouteRequest
from naestro.errors import NoProviderError, NoProviderReady

REQUIRED_ROLES = ("implementer", "judge")


class PolicyResolver:
    def __init__(self, providers: Providers) -> None:
        self._providers = providers

    async def _pick(self, role: str, wanted: list[str], request: RouteRequest) -> ProviderConfig:
        reasons = []
        for pid in wanted:
            p = self._providers.get(pid)
            if request.prompt_tokens and request.prompt_tokens > p.context_window:
                reasons.append(f"{pid}: prompt exceeds its {p.context_window}-token window")
                continue
            why = await self._providers.unusable(p, request.contains_pii, request.tenant)
            if why is None:
                return p
            reasons.append(f"{pid}: {why}")
        tried = "; ".join(reasons) or "none configured"
        error = NoProviderReady if transient(reasons) else NoProviderError
        raise error(f"policy {request.policy!r}: no usable provider for role {role!r} ({tried})")

    async def resolve(self, request: RouteRequest) -> PolicySpec:
        """Resolve a policy to one provider per role (raises NaestroError)."""
        policy = self._providers.policy(request.policy)
        routes: dict[str, RoutedProvider] = {}
        for role in dict.fromkeys([*REQUIRED_ROLES, *request.roles]):
            wanted = self._providers.wanted(policy, role)
            routes[role] = routed(await self._pick(role, wanted, request))
        return self._spec(request.policy, policy, routes, request.tenant)

    def _spec(
        self, name: str, policy: PolicyConfig, routes: dict[str, RoutedProvider], tenant: str
    ) -> PolicySpec:
        settings = self._providers.settings
        memory = settings.memory.enabled and policy.memory
        memory_queue = settings.queues.memory if memory else None
        return PolicySpec(
            name=name,
            routes=routes,
            judge_threshold=policy.judge_threshold,
            min_improvement=policy.min_improvement,
            max_output_tokens=policy.max_output_tokens,
            sandbox_task_queue=settings.queues.sandbox,
            verify_timeout_seconds=policy.verify_timeout_seconds,
            heartbeat_timeout_seconds=policy.heartbeat_timeout_seconds,
            stream=policy.stream,
            live_tokens_ms=policy.live_tokens_ms,
            consensus=policy.consensus,
            approval=policy.approval,
            call_attempts=policy.routing.call_attempts,
            plan=policy.plan,
            write_tests=policy.write_tests,
            review=policy.review,
            temperature=policy.temperature,
            refine=policy.refine,
            resample_temperature=policy.resample_temperature,
            subtasks=policy.subtasks,
            memory_task_queue=memory_queue,
            tools=settings.tools.policy(policy.tools, tenant, settings.queues.tools, memory_queue),
        )
