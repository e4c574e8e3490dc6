"""What routing knows of providers: which a policy names for a role, and whether one can
take a call now (key set, endpoint answering, the tenant's PII policy). Shared by policy
resolution and per-call routing, so both skip a provider for the same reasons."""

from __future__ import annotations

import math
import time

import httpx

from activities.routing.gpus import GPU_MARKER, GpuHealth
from naestro.config.settings import PolicyConfig, ProviderConfig, Settings
from naestro.contracts import RoutedProvider
from naestro.errors import UnknownPolicyError
from naestro.pii.exposure import provider_action

# A role a policy leaves out borrows another role's providers.
ROLE_FALLBACK = {"planner": "implementer", "refiner": "implementer", "critic": "judge"}
PROBE_TTL_SECONDS = 10.0
PROBE_TIMEOUT_SECONDS = 1.0
# llama.cpp's server answers /models only between generations: an engine that took the
# connection but not answered in time is busy, and still serving if it served lately.
BUSY_TRUST_SECONDS = 900.0

# Why a provider was skipped, when that mends by itself: it may serve a little later. An
# engine a worker supervises is starting or restarting; an endpoint nobody here starts
# that does not serve its model is the operator's to fix, and fails the task at once.
STARTING = "(its engine is starting)"
TRANSIENT = (STARTING, "circuit open", "failed on this call", "p95 latency", GPU_MARKER)


def transient(reasons: list[str]) -> bool:
    """Whether at least one provider was skipped for a reason that mends by itself."""
    return any(marker in reason for reason in reasons for marker in TRANSIENT)


def routed(p: ProviderConfig) -> RoutedProvider:
    """What a workflow carries of a provider: its id, queue, place, window, prices, GPUs."""
    return RoutedProvider(
        provider_id=p.id,
        task_queue=p.queue,
        location=p.where,
        model=p.model,
        context_window=p.context_window,
        price_input_per_mtok=p.price.input_per_mtok,
        price_output_per_mtok=p.price.output_per_mtok,
        gpus=p.gpus if p.where == "local" else 0,
    )


class EndpointProbe:
    """Does a local engine serve its model now? Its `/models` must answer naming the model
    (a TCP connect is not enough: a server still loading, or another server on the port,
    would pass). Cached briefly per endpoint and model."""

    def __init__(self, ttl_seconds: float = PROBE_TTL_SECONDS) -> None:
        self._ttl = ttl_seconds
        self._seen: dict[tuple[str, str], tuple[float, bool]] = {}
        self._served: dict[tuple[str, str], float] = {}  # when each last answered naming it

    async def serves(self, endpoint: str, model: str) -> bool:
        now, key = time.monotonic(), (endpoint, model)
        cached = self._seen.get(key)
        if cached and now - cached[0] < self._ttl:
            return cached[1]
        async with httpx.AsyncClient(timeout=PROBE_TIMEOUT_SECONDS) as client:
            answer = await probe_models(endpoint, model, client)
        if answer is None:  # busy: serving if it served lately
            ok = now - self._served.get(key, -math.inf) < BUSY_TRUST_SECONDS
        else:
            ok = answer
        if answer:
            self._served[key] = now
        self._seen[key] = (now, ok)
        return ok


async def probe_models(base_url: str, model: str, client: httpx.AsyncClient) -> bool | None:
    """Whether the OpenAI-compatible server at ``base_url`` answers /models naming
    ``model``; None when it took the connection but did not answer in time (busy)."""
    try:
        reply = await client.get(f"{base_url.rstrip('/')}/models")
        names = [m.get("id") for m in reply.json().get("data", [])]
    except (httpx.ReadTimeout, httpx.PoolTimeout):
        return None
    except (httpx.HTTPError, ValueError, AttributeError):
        return False
    return reply.status_code == 200 and model in names


async def serves_model(base_url: str, model: str, client: httpx.AsyncClient) -> bool:
    """Does the OpenAI-compatible server at ``base_url`` answer /models naming ``model``?
    The one readiness question: routing, the engine supervisor and the CLI all ask it."""
    return await probe_models(base_url, model, client) is True


class Providers:
    """The configured providers and policies, and live checks of whether one is usable."""

    def __init__(
        self, settings: Settings, probe: EndpointProbe | None = None, gpus: GpuHealth | None = None
    ) -> None:
        self.settings = settings
        self._probe = probe or EndpointProbe()
        self._gpus = gpus or GpuHealth(settings)

    def policy(self, name: str) -> PolicyConfig:
        policy = self.settings.policies.get(name)
        if policy is None:
            known = ", ".join(sorted(self.settings.policies)) or "none"
            raise UnknownPolicyError(f"unknown policy {name!r} (known: {known})")
        return policy

    def get(self, provider_id: str) -> ProviderConfig:
        return self.settings.provider(provider_id)

    def wanted(self, policy: PolicyConfig, role: str) -> list[str]:
        """The providers a policy names for a role, first preferred."""
        if policy.roles.get(role):
            return policy.roles[role]
        if role in ROLE_FALLBACK and policy.roles.get(ROLE_FALLBACK[role]):
            return policy.roles[ROLE_FALLBACK[role]]
        return [p.id for p in self.settings.providers if role in p.roles]

    async def unusable(self, p: ProviderConfig, contains_pii: bool, tenant: str) -> str | None:
        """Why this provider cannot take the call now, or None when it can."""
        pii = self.settings.pii.policy_for(tenant)
        if provider_action(pii.cloud, pii.local, p.where, contains_pii) == "block":
            return f"{p.where} provider, and tenant {tenant}'s policy blocks PII"
        if p.where == "cloud":
            if p.api_key_env and not p.api_key():
                return f"{p.api_key_env} is not set"
            return None
        engine = self.settings.engine(p.id)
        if engine is not None and (gpus := await self._gpus.unhealthy(engine)):
            return gpus
        if p.engine == "replay" or not p.endpoint:
            return None
        if not await self._probe.serves(p.endpoint, p.model):
            if engine is not None:
                return f"{p.endpoint} does not serve {p.model} yet {STARTING}"
            return f"{p.endpoint} does not serve {p.model} (down or loading)"
        return None
