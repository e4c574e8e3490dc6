"""A consensus round's wall time against its critical path, and the overhead per call.

One Temporal dev server, one run. Scripted providers with simulated latencies (proposers
2 s, critics 1 s, synthesizer 1 s, judge 1 s: a critical path of 5 s) run ConsensusWorkflow
(3 proposers || -> 2 critics || -> synthesizer -> judge); then the same panel at zero
latency gives the orchestration cost per model call (routing local activity, ledger,
activity round trip). The ratio wall / critical path is printed last (target <= 1.1).

    .venv/bin/python bench/consensus.py [--rounds 3]
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cli.devstack import find_temporal
from naestro import search
from naestro.config.settings import Settings
from naestro.contracts import ChatMessage, ConsensusRequest, ConsensusResult
from naestro.exit import exit_after
from workers.deps import Deps
from workers.main import build_workers, select_queues
from workers.versioning import settle_current
from workflows.consensus import ConsensusWorkflow

LATENCY_MS = {
    "p1": 2000,
    "p2": 2000,
    "p3": 2000,
    "c1": 1000,
    "c2": 1000,
    "synth": 1000,
    "judge": 1000,
}
CRITICAL_PATH_S = 2 + 1 + 1 + 1
REVIEW = {"proposal": 1, "issues": [], "scores": {"correctness": 0.9}}
REPLIES = {
    "p1": "Answer one.",
    "p2": "Answer two.",
    "p3": "Answer three.",
    "c1": json.dumps({"reviews": [REVIEW]}),
    "c2": json.dumps({"reviews": [REVIEW]}),
    "synth": "The merged answer.",
    "judge": json.dumps({"verdict": "accept", "score": 0.9, "rationale": "fine"}),
}


def bench_settings(tmp: Path, tag: str, latency: bool) -> Settings:
    providers: list[dict[str, Any]] = []
    for pid, reply in REPLIES.items():
        script = tmp / f"{pid}.jsonl"
        script.write_text(json.dumps({"text": reply}) + "\n")
        providers.append(
            {
                "id": pid,
                "engine": "replay",
                "model": "m",
                "script": str(script),
                "task_queue": f"models-{pid}-{tag}",
                "simulated_latency_ms": LATENCY_MS[pid] if latency else 0,
            }
        )
    roles = {
        "implementer": ["synth"],
        "judge": ["judge"],
        "proposer": ["p1", "p2", "p3"],
        "critic": ["c1", "c2"],
        "synthesizer": ["synth"],
    }
    return Settings.model_validate(
        {
            "providers": providers,
            "policies": {"default": {"roles": roles}},
            "queues": {"orchestrator": f"orch-{tag}", "sandbox": f"sb-{tag}"},
            "deploy": {"make_current": "always"},  # its own server: its version serves
        }
    )


async def time_rounds(client: Client, settings: Settings, rounds: int) -> tuple[float, int]:
    durations, calls = [], 0
    request = ConsensusRequest(
        task_id="bench",
        policy="default",
        phase="implement",
        task="Explain caching.",
        messages=[ChatMessage(role="user", content="Explain caching.")],
    )
    for _ in range(rounds):
        start = time.perf_counter()
        result: ConsensusResult = await client.execute_workflow(
            ConsensusWorkflow.run,
            request,
            id=f"bench-consensus-{uuid.uuid4().hex}",
            task_queue=settings.queues.orchestrator,
        )
        durations.append(time.perf_counter() - start)
        calls = len(result.calls)
    return statistics.mean(durations), calls


async def measure(client: Client, tmp: Path, latency: bool, rounds: int) -> tuple[float, int]:
    settings = bench_settings(tmp, uuid.uuid4().hex[:8], latency)
    deps = Deps.from_settings(settings)
    workers = build_workers(client, deps, select_queues(settings, []))
    for w in workers:
        await w.__aenter__()
    await settle_current(client, settings.deploy)  # its version takes new tasks
    try:
        await time_rounds(client, settings, 1)  # warm-up: imports, sandbox, BPE tables
        return await time_rounds(client, settings, rounds)
    finally:
        for w in reversed(workers):
            await w.__aexit__(None, None, None)
        await deps.aclose()


async def main(rounds: int) -> None:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_temporal(Path(".naestro")),
        search_attributes=search.ALL,
        data_converter=pydantic_data_converter,
    )
    async with env:
        with tempfile.TemporaryDirectory() as tmp:
            zero_s, calls = await measure(env.client, Path(tmp), False, rounds * 3)
            wall_s, _ = await measure(env.client, Path(tmp), True, rounds)
    print(f"model_calls_per_round {calls}")
    print(f"zero_latency_round_ms {zero_s * 1000:.1f}")
    print(f"orchestration_overhead_ms_per_call {zero_s / calls * 1000:.2f}")
    print(f"critical_path_s {CRITICAL_PATH_S:.3f}")
    print(f"consensus_round_wall_s {wall_s:.3f}")
    print(f"wall_over_critical_path {wall_s / CRITICAL_PATH_S:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    exit_after(lambda: asyncio.run(main(rounds)))
