"""Per-call routing, run as a local activity so every decision is recorded in history.

For one call (role, phase, messages) it picks a provider: the SLM ramp first (a share of
short Implement/Refine/Verify calls, drawn by the workflow with ``workflow.random``), then
the role's providers in policy order (rotated for proposer i), skipping any whose context
window the prompt does not fit, whose key is unset or endpoint down, whose breaker is open
or recent p95 latency is over its limit, or whose location policy forbids as a fallback;
a prompt no provider of the role fits goes to the ``long_context`` role. The outcomes of
the workflow's previous calls arrive with the request and feed the governor first.
"""

from __future__ import annotations

from typing import Protocol

from temporalio import activity

from activities.routing.policy import EndpointProbe, RoutingActivities, routed
from activities.routing.tokens import count_tokens
from naestro.config.settings import PolicyConfig, ProviderConfig, Settings
from naestro.contracts import CallOutcome, CallRoute, CallRouteRequest, RouteRequest
from naestro.errors import NaestroError, NoProviderError, UnknownPolicyError, to_application_error


class Health(Protocol):
    """What routing needs of the governor (activities/routing/governor.py)."""

    def observe(self, outcome: CallOutcome) -> None: ...

    def blocked(self, provider_id: str) -> str | None: ...


class _NoHealth:
    def observe(self, outcome: CallOutcome) -> None:
        return None

    def blocked(self, provider_id: str) -> str | None:
        return None


class CallRouting(RoutingActivities):
    def __init__(
        self, settings: Settings, health: Health | None = None, probe: EndpointProbe | None = None
    ) -> None:
        super().__init__(settings, probe)
        self.health: Health = health or _NoHealth()

    def _policy(self, name: str) -> PolicyConfig:
        policy = self._settings.policies.get(name)
        if policy is None:
            known = ", ".join(sorted(self._settings.policies)) or "none"
            raise UnknownPolicyError(f"unknown policy {name!r} (known: {known})")
        return policy

    async def route(self, request: CallRouteRequest) -> CallRoute:
        policy = self._policy(request.policy)
        for outcome in request.outcomes:
            self.health.observe(outcome)
        reasons: list[str] = []
        slm = await self._slm(policy, request, reasons)
        if slm is not None:
            return slm
        wanted = self._wanted(policy, request.role)
        shift = request.prefer_index % len(wanted) if wanted else 0
        rotated = wanted[shift:] + wanted[:shift]
        picked = await self._first(policy, request, request.role, rotated, reasons)
        if picked is not None:
            return picked
        long_role = policy.routing.long_context_role
        long_ids = self._wanted(policy, long_role)
        picked = await self._first(policy, request, long_role, long_ids, reasons)
        if picked is not None:
            return picked
        raise NoProviderError(
            f"policy {request.policy!r}: no usable provider for role {request.role!r} "
            f"({'; '.join(reasons) or 'none configured'})"
        )

    async def _slm(
        self, policy: PolicyConfig, request: CallRouteRequest, reasons: list[str]
    ) -> CallRoute | None:
        r = policy.routing
        if r.slm_share <= 0 or request.phase not in r.slm_phases or request.slm_draw >= r.slm_share:
            return None
        ids = self._wanted(policy, r.slm_role)
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
        home = self._settings.provider(ids[0]).where if ids else "local"
        for pid in ids:
            if pid in request.exclude:
                reasons.append(f"{pid}: failed on this call")
                continue
            p = self._settings.provider(pid)
            tokens, counter = count_tokens(p, request.messages)
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
        legacy = RouteRequest(
            policy=request.policy,
            roles=[],
            contains_pii=request.contains_pii,
            tenant=request.tenant,
        )
        why = await self._unusable(p, legacy)
        return why if why is not None else self.health.blocked(p.id)

    @activity.defn(name="naestro.routing.route_call")
    async def route_call(self, request: CallRouteRequest) -> CallRoute:
        try:
            return await self.route(request)
        except NaestroError as exc:
            raise to_application_error(exc) from None

    @activity.defn(name="naestro.routing.report_outcomes")
    async def report_outcomes(self, outcomes: list[CallOutcome]) -> None:
        for outcome in outcomes:
            self.health.observe(outcome)
