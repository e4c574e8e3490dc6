"""Per-model-call overhead of TaskWorkflow against a bare workflow of no-op activities.

Both run on one Temporal dev server: TaskWorkflow on the replay provider with zero latency
(plan, implement, then review/refine rounds), and a bare workflow executing the same number
of no-op activities one after another on its own queue. Each server set-up gets a fresh dev
server in the same run:

- ``stock``: the dev server as `temporal server start-dev` runs it (before: one history
  shard reading each task queue at most 20 times a second);
- ``embedded``: as `naestro dev` runs it (cli/devstack.py DEV_SERVER_DYNAMIC_CONFIG), on its
  SQLite file, and ``embedded-memory``: the same in memory.

Prints ms per model call of each side and their ratio per set-up; the embedded (file)
figures last, its TaskWorkflow ms per call the headline (target <= 25, ratio <= 1.10).

    .venv/bin/python bench/overhead.py [--tasks 20] [--rounds 5] [--telemetry]
        [--setups stock,embedded-memory,embedded]

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
from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bare import BareWorkflow, noop
from cli.devstack import DEV_SERVER_DYNAMIC_CONFIG, SQLITE_FILE_ARGS, find_temporal
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


SETUPS = ("stock", "embedded-memory", "embedded")


async def measure(
    setup: str, tasks: int, rounds: int, telemetry: bool = False
) -> tuple[float, float, int]:
    """(TaskWorkflow ms per model call, bare ms per activity, model calls per task)."""
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
        server: dict[str, Any] = {}
        if setup != "stock":
            server["dev_server_extra_args"] = DEV_SERVER_DYNAMIC_CONFIG
        if setup == "embedded":
            server["dev_server_database_filename"] = str(Path(tmp) / "temporal.sqlite")
            server["dev_server_extra_args"] = [*DEV_SERVER_DYNAMIC_CONFIG, *SQLITE_FILE_ARGS]
        env = await WorkflowEnvironment.start_local(
            plugins=plugins,
            dev_server_existing_path=find_temporal(Path(".naestro")),
            search_attributes=search.ALL,
            data_converter=pydantic_data_converter,
            **server,
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
    return task_s / calls * 1000, bare_s / calls * 1000, calls


async def main(tasks: int, rounds: int, setups: list[str], telemetry: bool = False) -> None:
    for setup in sorted(setups, key=SETUPS.index):  # the embedded file set-up last
        task_ms, bare_ms, calls = await measure(setup, tasks, rounds, telemetry)
        prefix = "" if setup == "embedded" else f"{setup.replace('-', '_')}_"
        print(f"{prefix}model_calls_per_task {calls}")
        print(f"{prefix}bare_ms_per_activity {bare_ms:.2f}")
        print(f"{prefix}overhead_ratio {task_ms / bare_ms:.3f}")
        print(f"{prefix}taskworkflow_ms_per_call {task_ms:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--setups",
        default=",".join(SETUPS),
        help=f"comma-separated dev server set-ups among {', '.join(SETUPS)}",
    )
    parser.add_argument("--telemetry", action="store_true", help="metrics and traces on")
    a = parser.parse_args()
    chosen = [s for s in a.setups.split(",") if s]
    unknown = [s for s in chosen if s not in SETUPS]
    if unknown or not chosen:
        parser.error(f"--setups: unknown {', '.join(unknown) or '(none given)'}")
    exit_after(lambda: asyncio.run(main(a.tasks, a.rounds, chosen, a.telemetry)))
