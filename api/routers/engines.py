"""/v1/engines: the local engines and providers this gateway's settings declare, and
whether each answers now.

Readiness is asked the way routing and the supervisor ask it (``probe_models``: `/models`
must name the model), with a short timeout, all engines at once. The supervisor's recorded
state (`<data_dir>/engines/<id>.json`, what `naestro engines` reads) is there when the
gateway shares the worker's data dir; the breaker state when a routing governor lives in
this process (`naestro dev`), read from its Prometheus gauge.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from fastapi import APIRouter
from prometheus_client import REGISTRY

from activities.routing.providers import probe_models
from api.deps import GatewayDep, Reader
from api.models import ERRORS, BreakerState, EngineList, EngineView
from api.validation import JsonRoute
from naestro.config.settings import EngineConfig, ProviderConfig, Settings
from naestro.telemetry import catalogue
from workers.engines.launch import endpoint, served_name
from workers.engines.supervisor import EngineStatus, read_statuses

router = APIRouter(route_class=JsonRoute, prefix="/v1/engines", tags=["engines"], responses=ERRORS)
PROBE_TIMEOUT_SECONDS = 1.5


def _breaker(provider_id: str) -> BreakerState | None:
    value = REGISTRY.get_sample_value(catalogue.BREAKER_OPEN.name, {"provider": provider_id})
    if value is None:
        return None  # no governor in this process, or it has not seen the provider yet
    return "open" if value else "closed"


async def _ready(url: str | None, model: str, client: httpx.AsyncClient) -> tuple[bool | None, str]:
    if url is None:
        return None, "no OpenAI-compatible endpoint to probe"
    answer = await probe_models(url, model, client)
    if answer is None:
        return None, f"took the connection, no answer in {PROBE_TIMEOUT_SECONDS:g} s (busy?)"
    return answer, "" if answer else f"{url}/models does not name {model}"


def _view(
    p: ProviderConfig,
    engine: EngineConfig | None,
    status: EngineStatus | None,
    ready: tuple[bool | None, str],
) -> EngineView:
    return EngineView(
        id=p.id,
        engine=p.engine,
        kind=engine.kind if engine else None,
        model=p.model,
        endpoint=_url(p, engine),
        task_queue=p.queue,
        gpus=p.gpus,
        state=status.state if status else None,
        restarts=status.restarts if status else None,
        ready=ready[0],
        detail=status.detail if status and status.detail else ready[1],
        breaker=_breaker(p.id),
    )


def _url(p: ProviderConfig, engine: EngineConfig | None) -> str | None:
    return p.endpoint or (endpoint(engine) if engine else None)


def _target(p: ProviderConfig, engine: EngineConfig | None) -> str | None:
    """Where to ask `/models` (None: not an OpenAI-compatible server, e.g. replay)."""
    return _url(p, engine) if p.protocol == "openai" else None


async def engine_views(settings: Settings) -> list[EngineView]:
    local = [p for p in settings.providers if p.where == "local"]
    engines = {e.id: e for e in settings.engines}
    recorded = {s.id: s for s in read_statuses(Path(settings.dev.data_dir) / "engines")}
    async with httpx.AsyncClient(timeout=PROBE_TIMEOUT_SECONDS) as client:
        probes = [_ready(_target(p, engines.get(p.id)), served_name(p), client) for p in local]
        answers = await asyncio.gather(*probes)
    return [
        _view(p, engines.get(p.id), recorded.get(p.id), ready)
        for p, ready in zip(local, answers, strict=True)
    ]


@router.get("", response_model=EngineList)
async def list_engines(_: Reader, gw: GatewayDep) -> EngineList:
    """Each local provider (a supervised engine or an endpoint on this network): kind,
    model, endpoint, the supervisor's state, whether it serves its model now, its breaker."""
    return EngineList(engines=await engine_views(gw.settings))
