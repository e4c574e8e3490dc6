"""Policy resolution and provider routing, run as a local activity.

The decision depends on live state (which keys are set, which local endpoints answer), so
it is made here and recorded in the workflow's history: replay sees the same routes.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

from temporalio import activity

from naestro.config.settings import PolicyConfig, ProviderConfig, Settings
from naestro.contracts import PolicySpec, RoutedProvider, RouteRequest
from naestro.errors import NaestroError, NoProviderError, UnknownPolicyError, to_application_error

REQUIRED_ROLES = ("implementer", "judge")
# A role a policy leaves out borrows another role's providers.
ROLE_FALLBACK = {"planner": "implementer", "refiner": "implementer", "critic": "judge"}
PROBE_TTL_SECONDS = 10.0
PROBE_TIMEOUT_SECONDS = 0.5


def routed(p: ProviderConfig) -> RoutedProvider:
    """What a workflow carries of a provider: its id, queue, place, window and prices."""
    return RoutedProvider(
        provider_id=p.id,
        task_queue=p.queue,
        location=p.where,
        model=p.model,
        context_window=p.context_window,
        price_input_per_mtok=p.price.input_per_mtok,
        price_output_per_mtok=p.price.output_per_mtok,
    )


class EndpointProbe:
    """Is a local engine's endpoint accepting connections? Cached briefly per endpoint."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[float, bool]] = {}

    async def reachable(self, endpoint: str) -> bool:
        now = time.monotonic()
        cached = self._seen.get(endpoint)
        if cached and now - cached[0] < PROBE_TTL_SECONDS:
            return cached[1]
        parts = urlsplit(endpoint)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(parts.hostname or "localhost", port),
                PROBE_TIMEOUT_SECONDS,
            )
            writer.close()
            ok = True
        except (OSError, TimeoutError):
            ok = False
        self._seen[endpoint] = (now, ok)
        return ok


class RoutingActivities:
    def __init__(self, settings: Settings, probe: EndpointProbe | None = None) -> None:
        self._settings = settings
        self._probe = probe or EndpointProbe()

    def _blocks_pii(self, p: ProviderConfig, tenant: str) -> bool:
        policy = self._settings.pii.policy_for(tenant)
        return (policy.cloud if p.where == "cloud" else policy.local) == "block"

    async def _unusable(self, p: ProviderConfig, request: RouteRequest) -> str | None:
        """Why this provider cannot take the call now, or None when it can."""
        if p.where == "cloud":
            if request.contains_pii and self._blocks_pii(p, request.tenant):
                return f"{p.where} provider, and tenant {request.tenant}'s policy blocks PII"
            if p.api_key_env and not p.api_key():
                return f"{p.api_key_env} is not set"
            return None
        if request.contains_pii and self._blocks_pii(p, request.tenant):
            return f"{p.where} provider, and tenant {request.tenant}'s policy blocks PII"
        if p.engine == "replay" or not p.endpoint:
            return None
        if not await self._probe.reachable(p.endpoint):
            return f"{p.endpoint} unreachable"
        return None

    async def _pick(self, role: str, wanted: list[str], request: RouteRequest) -> ProviderConfig:
        reasons = []
        for pid in wanted:
            p = self._settings.provider(pid)
            if request.prompt_tokens and request.prompt_tokens > p.context_window:
                reasons.append(f"{pid}: prompt exceeds its {p.context_window}-token window")
                continue
            why = await self._unusable(p, request)
            if why is None:
                return p
            reasons.append(f"{pid}: {why}")
        tried = "; ".join(reasons) or "none configured"
        raise NoProviderError(
            f"policy {request.policy!r}: no usable provider for role {role!r} ({tried})"
        )

    def _wanted(self, policy: PolicyConfig, role: str) -> list[str]:
        if policy.roles.get(role):
            return policy.roles[role]
        if role in ROLE_FALLBACK and policy.roles.get(ROLE_FALLBACK[role]):
            return policy.roles[ROLE_FALLBACK[role]]
        return [p.id for p in self._settings.providers if role in p.roles]

    async def resolve(self, request: RouteRequest) -> PolicySpec:
        """Resolve a policy to one provider per role (raises NaestroError)."""
        policy = self._settings.policies.get(request.policy)
        if policy is None:
            known = ", ".join(sorted(self._settings.policies)) or "none"
            raise UnknownPolicyError(f"unknown policy {request.policy!r} (known: {known})")
        routes: dict[str, RoutedProvider] = {}
        for role in dict.fromkeys([*REQUIRED_ROLES, *request.roles]):
            p = await self._pick(role, self._wanted(policy, role), request)
            routes[role] = routed(p)
        return PolicySpec(
            name=request.policy,
            routes=routes,
            judge_threshold=policy.judge_threshold,
            min_improvement=policy.min_improvement,
            max_output_tokens=policy.max_output_tokens,
            sandbox_task_queue=self._settings.queues.sandbox,
            verify_timeout_seconds=policy.verify_timeout_seconds,
            heartbeat_timeout_seconds=policy.heartbeat_timeout_seconds,
            stream=policy.stream,
            consensus=policy.consensus,
            approval=policy.approval,
            memory_task_queue=(
                self._settings.queues.memory
                if self._settings.memory.enabled and policy.memory
                else None
            ),
        )

    @activity.defn(name="naestro.routing.resolve_policy")
    async def resolve_policy(self, request: RouteRequest) -> PolicySpec:
        try:
            return await self.resolve(request)
        except NaestroError as exc:
            raise to_application_error(exc) from None
