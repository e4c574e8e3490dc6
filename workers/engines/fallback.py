"""The embedded engine as the default local provider: on a machine with no usable provider
(no cloud key set, no local engine answering), `naestro dev` and `naestro demo` start the
engines marked `autostart: fallback` and route the default policy to them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from activities.routing.policy import PolicyResolver
from activities.routing.providers import Providers, serves_model
from naestro.config.settings import EngineConfig, Settings
from naestro.contracts import RouteRequest
from naestro.errors import NaestroError
from workers.engines.launch import endpoint, served_name
from workers.engines.supervisor import read_statuses

ROLES = ["planner", "implementer", "refiner", "judge"]


async def default_usable(settings: Settings) -> str | None:
    """None when the default policy can route every role now; else why it cannot."""
    try:
        await PolicyResolver(Providers(settings)).resolve(
            RouteRequest(policy="default", roles=ROLES)
        )
    except NaestroError as exc:
        return str(exc)
    return None


def standing_in(settings: Settings) -> list[EngineConfig]:
    return [e for e in settings.engines if e.autostart == "fallback"]


def with_fallback(settings: Settings) -> Settings:
    """Start the fallback engines, and let the default policy route to them."""
    engines = [e.model_copy(update={"autostart": "always"}) for e in settings.engines]
    policies = dict(settings.policies)
    for engine in standing_in(settings):
        if engine.fallback_policy and engine.fallback_policy in policies:
            policies["default"] = policies[engine.fallback_policy]
    return settings.model_copy(update={"engines": engines, "policies": policies})


def without_fallback(settings: Settings) -> Settings:
    kept = [e for e in settings.engines if e.autostart == "always"]
    return settings.model_copy(update={"engines": kept})


async def plan_engines(settings: Settings) -> tuple[Settings, str | None]:
    """The settings to run with, and why the fallback engines stand in (None: they don't)."""
    if not standing_in(settings):
        return settings, None
    why = await default_usable(without_fallback(settings))
    if why is None:
        return without_fallback(settings), None
    return with_fallback(settings), why


async def wait_ready(
    settings: Settings, on_state: Callable[[str], None], stop: Callable[[], bool]
) -> None:
    """Until every started engine answers with its model (progress through ``on_state``);
    EngineNotReady when one failed or took longer than its ready timeout."""
    engines = [e for e in settings.engines if e.autostart == "always"]
    state_dir = Path(settings.dev.data_dir) / "engines"
    deadline = time.monotonic() + max((e.ready_timeout_seconds for e in engines), default=0)
    async with httpx.AsyncClient(timeout=2.0) as client:
        for engine in engines:
            model = served_name(settings.provider(engine.id))
            while not await serves_model(endpoint(engine), model, client):
                status = next((s for s in read_statuses(state_dir) if s.id == engine.id), None)
                if status is not None and status.state == "failed":
                    raise EngineNotReady(f"engine {engine.id} failed: {status.detail}")
                if stop() or time.monotonic() > deadline:
                    raise EngineNotReady(f"engine {engine.id} is not ready")
                detail = f"{status.state} {status.detail}".strip() if status else "starting"
                on_state(f"engine {engine.id} ({model}): {detail}")
                await asyncio.sleep(0.5)


class EngineNotReady(NaestroError):
    """A started engine failed, or did not become ready in time."""
