"""Per-call routing: for one call (role, phase, messages) pick a provider.

The SLM ramp first (a share of short Implement/Refine/Verify calls, drawn by the workflow
with ``workflow.random``), then the role's providers in policy order (rotated for proposer
i), skipping any whose context window the prompt does not fit, whose key is unset or
endpoint down, whose tenant policy blocks the task's PII, whose breaker is open or recent
p95 latency is over its limit, or whose location the policy forbids as a fallback; a
prompt no provider of the role fits goes to the ``long_context`` role. The outcomes of the
workflow's previous calls arrive with the request and feed the governor first.
"""

from __future__ import annotations

from typing import Protocol

from activities.routing.providers import Providers, routed, transient
from activities.routing.tokens import count_prompt, reservation_tokens
from naestro.config.settings import PolicyConfig, ProviderConfig
from naestro.contracts import CallOutcome, CallRoute, CallRouteRequest
from naestro.errors import NoProviderError, NoProviderReady


class Health(Protocol):
    """What routing needs of the governor (activities/routing/governor.py)."""

    def observe(self, outcome: CallOutcome) -> None: ...

    def blocked(self, provider_id: str) -> str | None: ...


class NoHealth:
    """Every provider healthy: routing without a governor (tools, tests)."""

    def observe(self, outcome: CallOutcome) -> None:
        return None

    def blocked(self, provider_id: str) -> str | None:
        return None


class CallRouter:
    def __init__(self, providers: Providers, health: Health) -> None:
        self._providers = providers
        self.health = health

    async def route(self, request: CallRouteRequest) -> CallRoute:
        policy = self._providers.policy(request.policy)
        for outcome in request.outcomes:
            self.health.observe(outcome)
        reasons: list[str] = []
        slm = await self._slm(policy, request, reasons)
        if slm is not None:
            return slm
        wanted = self._providers.wanted(policy, request.role)
        shift = request.prefer_index % len(wanted) if wanted else 0
        rotated = wanted[shift:] + wanted[:shift]
        picked = await self._first(policy, request, request.role, rotated, reasons)
        if picked is not None:
            return picked
        long_role = policy.routing.long_context_role
        long_ids = self._providers.wanted(policy, long_role)
        picked = await self._first(policy, request, long_role, long_ids, reasons)
        if picked is not None:
            return picked
        error = NoProviderReady if transient(reasons) else NoProviderError
        raise error(
            f"policy {request.policy!r}: no usable provider for role {request.role!r} "
            f"({'; '.join(reasons) or 'none configured'})"
        )

    async def _slm(
        self, policy: PolicyConfig, request: CallRouteRequest, reasons: list[str]
    ) -> CallRoute | None:
        r = policy.routing
        if r.slm_share <= 0 or request.phase not in r.slm_phases or request.slm_draw >= r.slm_share:
            return None
        ids = self._providers.wanted(policy, r.slm_role)
        route = await self._first(policy, request, r.slm_role, ids, reasons)
        if route is None or route.prompt_tokens >= r.slm_max_prompt_tokens:
            return None
        note = f"slm ramp: draw {request.slm_draw:.3f} < share {r.slm_share:.2f}"
        return route.model_copy(update={"reason": note})

    async def _first(
        self,
        policy: PolicyConfig,
        request: CallRouteRequest,
        role: str,
        ids: list[str],
        reasons: list[str],
    ) -> CallRoute | None:
        home = self._providers.get(ids[0]).where if ids else "local"
        for pid in ids:
            if pid in request.exclude:
                reasons.append(f"{pid}: failed on this call")
                continue
            p = self._providers.get(pid)
            tokens, counter = await count_prompt(p, request.messages)
            why = await self._skip(policy, request, p, tokens, home)
            if why is not None:
                reasons.append(f"{pid}: {why}")
                continue
            reason = "; ".join(reasons) if reasons else "first choice"
            return CallRoute(
                role=role,
                provider=routed(p),
                prompt_tokens=tokens,
                token_counter=counter,
                prompt_tokens_max=reservation_tokens(request.messages, tokens, counter),
                reason=f"{role}: {reason}" if reasons else reason,
                gpus=p.gpus if p.where == "local" else 0,
            )
        return None

    async def _skip(
        self,
        policy: PolicyConfig,
        request: CallRouteRequest,
        p: ProviderConfig,
        tokens: int,
        home: str,
    ) -> str | None:
        if tokens + request.max_output_tokens > p.context_window:
            return f"prompt of {tokens} tokens does not fit its {p.context_window}-token window"
        if p.where != home:
            allowed = (
                policy.routing.allow_cloud_fallback
                if p.where == "cloud"
                else policy.routing.allow_local_fallback
            )
            if not allowed:
                return f"policy forbids {home} -> {p.where} fallback"
        why = await self._providers.unusable(p, request.contains_pii, request.tenant)
        return why if why is not None else self.health.blocked(p.id)
