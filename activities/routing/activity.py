"""The routing activities, run as local activities on the orchestrator so every decision
(which depends on live state: keys, endpoints, breakers, latency) is recorded in history
and replays deterministically."""

from __future__ import annotations

from temporalio import activity

from activities.routing.calls import CallRouter, Health, NoHealth
from activities.routing.policy import PolicyResolver
from activities.routing.providers import EndpointProbe, Providers
from naestro.config.settings import Settings
from naestro.contracts import CallOutcome, CallRoute, CallRouteRequest, PolicySpec, RouteRequest
from naestro.errors import NaestroError, to_application_error


class RoutingActivities:
    def __init__(
        self, settings: Settings, health: Health | None = None, probe: EndpointProbe | None = None
    ) -> None:
        self.providers = Providers(settings, probe)
        self.resolver = PolicyResolver(self.providers)
        self.health: Health = health or NoHealth()
        self.router = CallRouter(self.providers, self.health)

    async def resolve(self, request: RouteRequest) -> PolicySpec:
        return await self.resolver.resolve(request)

    async def route(self, request: CallRouteRequest) -> CallRoute:
        return await self.router.route(request)

    @activity.defn(name="naestro.routing.resolve_policy")
    async def resolve_policy(self, request: RouteRequest) -> PolicySpec:
        try:
            return await self.resolver.resolve(request)
        except NaestroError as exc:
            raise to_application_error(exc) from None

    @activity.defn(name="naestro.routing.route_call")
    async def route_call(self, request: CallRouteRequest) -> CallRoute:
        try:
            return await self.router.route(request)
        except NaestroError as exc:
            raise to_application_error(exc) from None

    @activity.defn(name="naestro.routing.report_outcomes")
    async def report_outcomes(self, outcomes: list[CallOutcome]) -> None:
        for outcome in outcomes:
            self.health.observe(outcome)
