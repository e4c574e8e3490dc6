"""Per-model-call overhead of TaskWorkflow against a bare workflow of no-op activities.

Both run on one Temporal dev server in one run: TaskWorkflow on the replay provider with
zero latency (plan, implement, then review/refine rounds), and a bare workflow executing
the same number of no-op activities one after another on another queue. Prints the mean
wall time per model call of each, and their ratio last (target <= 1.25).

    .venv/bin/python bench/overhead.py [--tasks 20] [--rounds 5] [--telemetry]

--telemetry: the process's telemetry on (naestro/telemetry/setup.py: the runtime's metrics
exporter, and traces when OTEL_EXPORTER_OTLP_ENDPOINT is set); bench/telemetry.py compares.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bare import BareWorkflow, noop
from cli.devstack import find_temporal
from naestro import search
from naestro.client import start_task
from naestro.config.settings import Settings
from naestro.contracts import Budget, TaskRequest
from naestro.exit import exit_after
from naestro.telemetry.setup import install as install_telemetry
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
            "policies": {
                "default": {"roles": roles, "min_improvement": 0.0, "judge_threshold": 0.99}
            },
            "queues": {"orchestrator": f"orch-{tag}", "sandbox": f"sb-{tag}"},
            "deploy": {"make_current": "always"},  # its own server: its version serves
        }
    )


async def time_tasks(
    client: Client, settings: Settings, tasks: int, rounds: int
) -> tuple[float, int]:
    durations, calls = [], 0
    request = TaskRequest(prompt="Explain caching.", budget=Budget(max_refine_rounds=rounds))
    for _ in range(tasks):
        start = time.perf_counter()
        handle = await start_task(client, request, task_queue=settings.queues.orchestrator)
        result = await handle.result()
        durations.append(time.perf_counter() - start)
        calls = result.spend.model_calls
    return statistics.mean(durations), calls


async def time_bare(client: Client, queue: str, calls: int, tasks: int) -> float:
    durations = []
    for _ in range(tasks):
        start = time.perf_counter()
        await client.execute_workflow(
            BareWorkflow.run, [str(calls), queue], id=f"bare-{uuid.uuid4().hex}", task_queue=queue
        )
        durations.append(time.perf_counter() - start)
    return statistics.mean(durations)


async def main(tasks: int, rounds: int, telemetry: bool = False) -> None:
    tag = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "script.jsonl"
        script.write_text(
            json.dumps({"role": "judge", "text": '{"verdict": "revise", "score": 0.1}'})
            + "\n"
            + json.dumps({"text": "an answer"})
            + "\n"
        )
        settings = bench_settings(script, tag)
        plugins = install_telemetry("naestro-bench") if telemetry else []
        env = await WorkflowEnvironment.start_local(
            plugins=plugins,
            dev_server_existing_path=find_temporal(Path(".naestro")),
            search_attributes=search.ALL,
            data_converter=pydantic_data_converter,
        )
        async with env:
            client = env.client
            deps = Deps.from_settings(settings)
            workers = build_workers(client, deps, select_queues(settings, []))
            bare_q = f"bare-{tag}"
            workers.append(
                Worker(client, task_queue=bare_q, workflows=[BareWorkflow], activities=[noop])
            )
            for w in workers:
                await w.__aenter__()
            await settle_current(client, settings.deploy)  # its version takes new tasks
            try:
                # Warm both paths once so imports and sandbox set-up are not timed.
                await time_tasks(client, settings, 1, rounds)
                task_s, calls = await time_tasks(client, settings, tasks, rounds)
                await time_bare(client, bare_q, calls, 1)
                bare_s = await time_bare(client, bare_q, calls, tasks)
            finally:
                for w in reversed(workers):
                    await w.__aexit__(None, None, None)
                await deps.aclose()
    task_ms, bare_ms = task_s / calls * 1000, bare_s / calls * 1000
    print(f"model_calls_per_task {calls}")
    print(f"taskworkflow_ms_per_call {task_ms:.2f}")
    print(f"bare_ms_per_activity {bare_ms:.2f}")
    print(f"overhead_ratio {task_ms / bare_ms:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--telemetry", action="store_true", help="metrics and traces on")
    a = parser.parse_args()
    exit_after(lambda: asyncio.run(main(a.tasks, a.rounds, a.telemetry)))
