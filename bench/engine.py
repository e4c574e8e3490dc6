"""Naestro's added latency per real model call: the one call path (TaskWorkflow's: routing
local activity, reservation, the model activity on the engine's queue, reconcile) against
the same request sent straight to the engine, in one run, on the bundled engine.

    .venv/bin/python bench/engine.py [--model smollm2-135m] [--calls 5] [--tokens 200]

Prints the mean wall time per call of each side, the tokens generated, the added
milliseconds per call, and the added share of the call's wall time last (target <= 5%).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.callpath import CallPathWorkflow
from cli.devstack import find_temporal
from naestro import search
from naestro.config.settings import Settings
from naestro.exit import exit_after
from workers.deps import Deps
from workers.engines.fallback import wait_ready
from workers.main import run_workers, select_queues
from workers.runner import workflow_runner

PROMPT = "Write a long, detailed story about a lighthouse keeper and a storm."
SERVED = {"smollm2-135m": "smollm2-135m-instruct", "qwen2.5-coder-1.5b": "qwen2.5-coder-1.5b"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def settings_for(model: str, port: int, tag: str, data_dir: str) -> Settings:
    served = SERVED[model]
    return Settings.model_validate(
        {
            "providers": [
                {
                    "id": "engine",
                    "engine": "llamacpp",
                    "endpoint": f"http://127.0.0.1:{port}/v1",
                    "model": served,
                    "context_window": 4096,
                    "max_concurrency": 1,
                    "task_queue": f"engine-{tag}",
                }
            ],
            "engines": [
                {
                    "id": "engine",
                    "model": f"bundled:{model}",
                    "port": port,
                    "threads": 2,
                    "context_size": 4096,
                }
            ],
            "policies": {"default": {"roles": {"implementer": ["engine"], "judge": ["engine"]}}},
            "queues": {"orchestrator": f"orch-{tag}", "sandbox": f"sb-{tag}"},
            "deploy": {"make_current": "always"},  # its own server: its version serves
            "dev": {"data_dir": data_dir},
        }
    )


async def direct(settings: Settings, calls: int, tokens: int) -> tuple[float, list[int]]:
    p = settings.providers[0]
    body = {
        "model": p.model,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": tokens,
        "temperature": 0.0,
    }
    walls, out = [], []
    async with httpx.AsyncClient(timeout=600) as client:
        for _ in range(calls):
            start = time.perf_counter()
            reply = (await client.post(f"{p.endpoint}/chat/completions", json=body)).json()
            walls.append(time.perf_counter() - start)
            out.append(reply["usage"]["completion_tokens"])
    return statistics.mean(walls), out


@asynccontextmanager
async def engine_stack(
    settings: Settings, tag: str, workflows: Sequence[type]
) -> AsyncIterator[tuple[Client, str]]:
    """A dev server, Naestro's workers (the bundled engine ready) and a bench worker running
    ``workflows`` with the routing local activities: the client and the bench's queue."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_temporal(Path(".naestro")),
        search_attributes=search.ALL,
        data_converter=pydantic_data_converter,
    )
    async with env:
        client, stop = env.client, asyncio.Event()
        deps = Deps.from_settings(settings)
        running = asyncio.create_task(run_workers(client, deps, select_queues(settings, []), stop))
        queue = f"bench-{tag}"
        worker = Worker(
            client,
            task_queue=queue,
            workflows=list(workflows),
            activities=[deps.routing.route_call, deps.routing.report_outcomes],
            workflow_runner=workflow_runner(),
        )
        try:
            async with worker:
                await wait_ready(settings, lambda _: None, running.done)
                yield client, queue
        finally:
            stop.set()
            await running


async def main(model: str, calls: int, tokens: int) -> None:
    tag = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_for(model, free_port(), tag, tmp)
        async with engine_stack(settings, tag, [CallPathWorkflow]) as (client, bench_q):
            await direct(settings, 1, tokens)  # warm the engine's cache and the paths
            args = [str(1), "default", PROMPT, str(tokens)]
            await client.execute_workflow(
                CallPathWorkflow.run, args, id=f"warm-{tag}", task_queue=bench_q
            )
            # Interleaved, one call each in turn: engine-side drift hits both sides alike.
            direct_walls, direct_out, naestro_walls, naestro_out = [], [], [], []
            for i in range(calls):
                wall, out = await direct(settings, 1, tokens)
                direct_walls.append(wall)
                direct_out += out
                start = time.perf_counter()
                naestro_out += await client.execute_workflow(
                    CallPathWorkflow.run,
                    [str(1), "default", PROMPT, str(tokens)],
                    id=f"bench-{tag}-{i}",
                    task_queue=bench_q,
                )
                naestro_walls.append(time.perf_counter() - start)
            direct_s = statistics.mean(direct_walls)
            naestro_s = statistics.mean(naestro_walls)
    added_ms = (naestro_s - direct_s) * 1000
    print(f"output_tokens_direct {statistics.mean(direct_out):.0f}")
    print(f"output_tokens_naestro {statistics.mean(naestro_out):.0f}")
    print(f"direct_s_per_call {direct_s:.3f}")
    print(f"naestro_s_per_call {naestro_s:.3f}")
    print(f"added_ms_per_call {added_ms:.1f}")
    print(f"added_share_of_call {added_ms / 1000 / naestro_s:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m", choices=sorted(SERVED))
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=200)
    a = parser.parse_args()
    exit_after(lambda: asyncio.run(main(a.model, a.calls, a.tokens)))
