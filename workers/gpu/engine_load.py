"""An engine's own load, read from its Prometheus endpoint: what GPU memory cannot show.

vLLM allocates most of its GPU's memory for the KV cache when it starts, so NVML reads a
nearly constant figure whatever the load; the engine's `/metrics` tells how full that cache
is (`vllm:kv_cache_usage_perc`, 0..1; `vllm:gpu_cache_usage_perc` before the V1 engine) and
how many requests wait inside the engine (`vllm:num_requests_waiting`). An engine's slot
supplier holds calls back while its cache is past the admission cap or requests queue
inside it, so they wait in the engine's Temporal queue, in priority order, instead of in the
engine's own first-come queue (docs/gpus.md)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import httpx

log = logging.getLogger(__name__)
KV_CACHE = ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc")
WAITING = "vllm:num_requests_waiting"
TIMEOUT_SECONDS = 1.0


@dataclass(frozen=True)
class EngineLoad:
    kv_cache: float | None = None  # the fullest KV cache the engine reports, 0..1
    waiting: float | None = None  # requests queued inside the engine


def metrics_url(endpoint: str) -> str:
    """vLLM serves /metrics at the server's root, beside /v1."""
    base = endpoint.rstrip("/")
    return (base.removesuffix("/v1") or base) + "/metrics"


def parse_load(text: str) -> EngineLoad:
    """The load in Prometheus text exposition: the highest KV-cache usage over the series
    (one per model / engine rank), the sum of waiting requests."""
    kv: float | None = None
    waiting: float | None = None
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name not in KV_CACHE and name != WAITING:
            continue
        try:
            value = float(line.rsplit(" ", 1)[1])
        except (IndexError, ValueError):
            continue
        if name == WAITING:
            waiting = (waiting or 0.0) + value
        else:
            kv = value if kv is None else max(kv, value)
    return EngineLoad(kv_cache=kv, waiting=waiting)


async def fetch_load(client: httpx.AsyncClient, endpoint: str) -> EngineLoad | None:
    """The engine's load now, or None when its metrics cannot be read (not an error: the
    admission then goes by concurrency and GPU memory alone)."""
    try:
        reply = await client.get(metrics_url(endpoint), timeout=TIMEOUT_SECONDS)
    except httpx.HTTPError as exc:
        log.debug("engine metrics at %s: %s", endpoint, exc)
        return None
    if reply.status_code != 200:
        return None
    load = parse_load(reply.text)
    return load if load.kv_cache is not None or load.waiting is not None else None
