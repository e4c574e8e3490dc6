"""Gateway figures: cache-hit latency against a bare FastAPI endpoint, submission throughput.

One run, one server: the gateway (real Temporal dev server, embedded Postgres, scripted
workers) with one extra bare endpoint (`POST /bench/bare`, echoes its JSON body, no auth,
no database). Both sides are timed over real loopback HTTP with the same client, requests
interleaved so that both see the same machine load. Prints `name value` lines; the
headline ratio (cache-hit p50 / bare p50, target <= 2) comes last.

    .venv/bin/python bench/api.py [--requests 400] [--tasks 200] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.app import create_app
from api.db import create_pool
from api.keys import create_key
from cli.devstack import find_temporal
from naestro import search
from naestro.config.settings import Settings
from naestro.exit import exit_after
from workers.deps import Deps
from workers.main import build_workers, select_queues
from workers.versioning import settle_current


def bench_settings(script: Path, tag: str) -> Settings:
    roles = {r: ["scripted"] for r in ("planner", "implementer", "refiner", "judge")}
    return Settings.model_validate(
        {
            "providers": [
                {"id": "scripted", "engine": "replay", "model": "m", "script": str(script)}
            ],
            "policies": {"default": {"roles": roles}},
            "queues": {"orchestrator": f"orch-{tag}", "sandbox": f"sb-{tag}"},
            "deploy": {"make_current": "always"},  # its own server: its version serves
            "api": {
                "rate_limit": {"per_second": 100_000, "burst": 100_000},
                "max_model_tasks": 100_000,
            },
        }
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def latencies(
    http: httpx.AsyncClient, key: str, body: dict[str, Any], n: int
) -> tuple[list[float], list[float]]:
    auth = {"Authorization": f"Bearer {key}"}
    hit, bare = [], []
    for _ in range(n):
        start = time.perf_counter()
        reply = await http.post("/v1/tasks", json=body, headers=auth)
        hit.append(time.perf_counter() - start)
        assert reply.headers.get("X-Naestro-Cache") == "hit", reply.text
        start = time.perf_counter()
        reply = await http.post("/bench/bare", json=body)
        bare.append(time.perf_counter() - start)
        assert reply.status_code == 200
    return hit, bare


async def submissions(http: httpx.AsyncClient, key: str, tasks: int, concurrency: int) -> float:
    auth = {"Authorization": f"Bearer {key}", "X-Naestro-Cache": "bypass"}
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            reply = await http.post(
                "/v1/tasks", json={"prompt": f"task {i} {uuid.uuid4()}"}, headers=auth
            )
            assert reply.status_code == 202, reply.text

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(tasks)))
    return tasks / (time.perf_counter() - start)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def warm_cache(
    env: WorkflowEnvironment,
    settings: Settings,
    http: httpx.AsyncClient,
    key: str,
    body: dict[str, Any],
) -> None:
    """Run the task once with workers polling, so its answer lands in the cache."""
    auth = {"Authorization": f"Bearer {key}"}
    deps = Deps.from_settings(settings)
    workers = build_workers(env.client, deps, select_queues(settings, []))
    for w in workers:
        await w.__aenter__()
    await settle_current(env.client, settings.deploy)  # its version takes new tasks
    try:
        first = await http.post("/v1/tasks", json=body, headers=auth)
        task_id = first.json()["task_id"]
        await env.client.get_workflow_handle(task_id).result()
        await http.get(f"/v1/tasks/{task_id}", headers=auth)  # the gateway caches it
    finally:
        for w in reversed(workers):
            await w.__aexit__(None, None, None)
        await deps.aclose()


async def measure(
    app: FastAPI, env: WorkflowEnvironment, settings: Settings, key: str, a: argparse.Namespace
) -> dict[str, float]:
    port = _port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()
        await asyncio.sleep(0.01)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            body = {"prompt": "Explain caching in one line."}
            await warm_cache(env, settings, http, key, body)
            await latencies(http, key, body, 20)  # warm-up, not timed
            hit, bare = await latencies(http, key, body, a.requests)
            # Workers are stopped: this is the gateway's accept rate (start_workflow included),
            # not the rate at which the scripted workers finish tasks on this machine.
            rate = await submissions(http, key, a.tasks, a.concurrency)
    finally:
        server.should_exit = True
        await serving
    return {
        "cache_hit_p50_ms": statistics.median(hit) * 1000,
        "cache_hit_p95_ms": percentile(hit, 0.95) * 1000,
        "bare_p50_ms": statistics.median(bare) * 1000,
        "bare_p95_ms": percentile(bare, 0.95) * 1000,
        "submissions_per_s": rate,
        "cache_hit_p95_over_bare_p95": percentile(hit, 0.95) / percentile(bare, 0.95),
        "cache_hit_p50_over_bare_p50": statistics.median(hit) / statistics.median(bare),
    }


async def run(a: argparse.Namespace, database_url: str, tmp: Path) -> dict[str, float]:
    script = tmp / "script.jsonl"
    script.write_text(
        json.dumps({"role": "judge", "text": '{"verdict": "accept", "score": 0.9}'})
        + "\n"
        + json.dumps({"text": "an answer"})
        + "\n"
    )
    settings = bench_settings(script, uuid.uuid4().hex[:8])
    pool = await create_pool(database_url, settings.memory)
    key = await create_key(pool, "bench", ["admin"])
    await pool.close()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_temporal(Path(".naestro")),
        search_attributes=search.ALL,
        data_converter=pydantic_data_converter,
    )
    async with env:
        app = create_app(settings, client=env.client, database_url=database_url)

        @app.post("/bench/bare", include_in_schema=False)
        async def bare(body: dict[str, Any]) -> dict[str, Any]:
            return body

        return await measure(app, env, settings, key, a)


async def main(a: argparse.Namespace) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver.postgres_server import get_server

    with tempfile.TemporaryDirectory() as tmp:
        server = get_server(str(Path(tmp) / "pg"), cleanup_mode="stop")
        try:
            figures = await run(a, server.get_uri(), Path(tmp))
        finally:
            server.cleanup()
    for name, value in figures.items():
        print(f"{name} {value:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    a = parser.parse_args()
    exit_after(lambda: asyncio.run(main(a)))
