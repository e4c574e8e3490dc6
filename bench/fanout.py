"""A plan's fan-out: wall time of N independent subtasks (child TaskWorkflows) against the
critical path.

One Temporal dev server, one run, scripted providers with simulated latencies (planner
1 s, implementer 2 s, judge 0.5 s). A task whose structured plan has N independent subtasks
runs plan -> N children in parallel (each: implement -> judge) -> integrate -> judge: a
critical path of 1 + (2 + 0.5) + 2 + 0.5 = 6 s whatever N is, against 1 + N x 2.5 + 2.5 s
if the subtasks ran one after another. The same task with one subtask (the measured
critical path, orchestration included) is timed in the same run. The ratio wall / critical
path for N is printed last (target <= 1.15 for N = 8).

    .venv/bin/python bench/fanout.py [--n 8] [--rounds 2]
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
from temporalio.testing import WorkflowEnvironment

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cli.devstack import PRIORITY_DYNAMIC_CONFIG, find_temporal
from naestro import search
from naestro.client import start_task
from naestro.codec import data_converter
from naestro.config.settings import Settings
from naestro.contracts import Budget, TaskRequest
from naestro.exit import exit_after
from workers.deps import Deps
from workers.main import build_workers, select_queues
from workers.versioning import settle_current

LATENCY_S = {"planner": 1.0, "implementer": 2.0, "judge": 0.5}
CRITICAL_PATH_S = LATENCY_S["planner"] + 2 * (LATENCY_S["implementer"] + LATENCY_S["judge"])
VERDICT = json.dumps({"verdict": "accept", "score": 0.9, "rationale": "fine"})


def _plan(n: int) -> str:
    subtasks = [
        {"id": f"s{i}", "title": f"part {i}", "prompt": f"Do PART-{i}.", "acceptance": ["done"]}
        for i in range(1, n + 1)
    ]
    return json.dumps({"summary": f"{n} independent parts", "subtasks": subtasks})


def bench_settings(tmp: Path, n: int) -> Settings:
    tag = uuid.uuid4().hex[:8]
    rules: dict[str, list[dict[str, Any]]] = {
        "planner": [{"text": _plan(n)}],
        "implementer": [
            {"contains": "integrate their results", "text": "the integrated answer"},
            {"text": "a part done"},
        ],
        "judge": [{"text": VERDICT}],
    }
    providers = []
    for role, role_rules in rules.items():
        script = tmp / f"{role}-{tag}.jsonl"
        script.write_text("".join(json.dumps(r) + "\n" for r in role_rules))
        providers.append(
            {
                "id": role,
                "engine": "replay",
                "model": "m",
                "script": str(script),
                "task_queue": f"models-{role}-{tag}",
                "simulated_latency_ms": LATENCY_S[role] * 1000,
            }
        )
    roles = {"planner": ["planner"], "implementer": ["implementer"], "judge": ["judge"]}
    roles["refiner"] = ["implementer"]
    subtasks = {"enabled": True, "min_subtasks": 1, "max_subtasks": n, "max_parallel": n}
    return Settings.model_validate(
        {
            "providers": providers,
            "policies": {"default": {"roles": roles, "subtasks": subtasks}},
            "queues": {"orchestrator": f"orch-{tag}", "sandbox": f"sb-{tag}"},
            "deploy": {"make_current": "always"},  # its own server: its version serves
        }
    )


async def time_tasks(client: Client, settings: Settings, rounds: int, n: int) -> float:
    durations = []
    for _ in range(rounds):
        start = time.perf_counter()
        handle = await start_task(
            client,
            TaskRequest(prompt="Do every part.", budget=Budget(max_tokens=1_000_000)),
            task_queue=settings.queues.orchestrator,
        )
        result = await handle.result()
        durations.append(time.perf_counter() - start)
        ok = [o for o in result.subtasks if o.status == "succeeded"]
        if result.status != "succeeded" or len(ok) != n:
            raise SystemExit(f"the bench task did not fan out as planned: {result.reason}")
    return statistics.mean(durations)


async def measure(client: Client, tmp: Path, n: int, rounds: int) -> float:
    settings = bench_settings(tmp, n)
    deps = Deps.from_settings(settings)
    workers = build_workers(client, deps, select_queues(settings, []))
    for w in workers:
        await w.__aenter__()
    await settle_current(client, settings.deploy)
    try:
        return await time_tasks(client, settings, rounds, n)
    finally:
        for w in reversed(workers):
            await w.__aexit__(None, None, None)
        await deps.aclose()


async def main(n: int, rounds: int) -> None:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_temporal(Path(".naestro")),
        search_attributes=search.ALL,
        data_converter=data_converter(None),
        dev_server_extra_args=PRIORITY_DYNAMIC_CONFIG,
    )
    async with env:
        with tempfile.TemporaryDirectory() as tmp:
            await measure(env.client, Path(tmp), 1, 1)  # warm-up: imports, BPE tables
            one_s = await measure(env.client, Path(tmp), 1, rounds)
            wall_s = await measure(env.client, Path(tmp), n, rounds)
    sequential_s = (
        LATENCY_S["planner"]
        + n * (LATENCY_S["implementer"] + LATENCY_S["judge"])
        + LATENCY_S["implementer"]
        + LATENCY_S["judge"]
    )
    print(f"subtasks {n}")
    print(f"critical_path_s {CRITICAL_PATH_S:.3f}")
    print(f"sequential_s {sequential_s:.3f}")
    print(f"one_subtask_wall_s {one_s:.3f}")
    print(f"fanout_wall_s {wall_s:.3f}")
    print(f"speedup_over_sequential {sequential_s / wall_s:.2f}")
    print(f"wall_over_one_subtask {wall_s / one_s:.3f}")
    print(f"wall_over_critical_path {wall_s / CRITICAL_PATH_S:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    exit_after(lambda: asyncio.run(main(args.n, args.rounds)))
