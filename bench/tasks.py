"""Ten small everyday coding tasks on the embedded model, the way `naestro run` does them on
`naestro dev`: TaskWorkflow under the `embedded` policy of temporal.yaml (no plan; code and
its own tests, sandboxed; the judge; a failing answer drawn afresh). Each task's final
answer is also checked against a hidden test in the sandbox (bench/data/small_tasks.jsonl),
so "succeeded" (Naestro verified and accepted it) and "correct" are both counted.

Prints ``name value`` lines: tasks, succeeded first time (no refine round), succeeded after
refine, correct (hidden test), mean wall seconds a task, and the succeeded count last.

    .venv/bin/python bench/tasks.py [--refine-rounds 2] [--only rle,roman]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cli.evals import load_problems
from cli.harness.config import own_queues
from cli.harness.runner import hidden_check
from cli.harness.stack import embedded
from naestro.client import start_task
from naestro.config.settings import Settings, load_settings
from naestro.contracts import Budget, TaskRequest
from naestro.exit import exit_after

ROOT = Path(__file__).resolve().parent.parent
TASKS = ROOT / "bench" / "data" / "small_tasks.jsonl"
POLICY = "embedded"


def bench_settings(base: Settings) -> Settings:
    """temporal.yaml with its embedded engine started at once, memory off (one task must not
    recall another's answer) and queues of the bench's own (a running `naestro dev` keeps
    its tasks)."""
    engines = [e.model_copy(update={"autostart": "always"}) for e in base.engines]
    queues = own_queues(base.queues, "tasks-bench")
    memory = base.memory.model_copy(update={"enabled": False})
    return base.model_copy(update={"engines": engines, "queues": queues, "memory": memory})


async def main(refine_rounds: int, only: set[str]) -> None:
    settings = bench_settings(load_settings(ROOT / "temporal.yaml"))
    problems = [p for p in load_problems(TASKS) if not only or p.task_id.split("/")[1] in only]
    first = after = correct = 0
    walls: list[float] = []
    async with embedded(settings, lambda line: print(line, file=sys.stderr)) as client:
        for problem in problems:
            started = time.monotonic()
            request = TaskRequest(
                prompt=problem.prompt,
                kind="code",
                policy=POLICY,
                budget=Budget(max_refine_rounds=refine_rounds),
            )
            handle = await start_task(client, request, task_queue=settings.queues.orchestrator)
            result = await handle.result()
            walls.append(time.monotonic() - started)
            ok = result.status == "succeeded"
            first += ok and result.rounds == 0
            after += ok
            # The task's words are no program prefix: the hidden test runs the answer alone.
            bare = problem.model_copy(update={"prompt": ""})
            passed, _ = await hidden_check(client, settings, bare, result.answer)
            correct += passed
            print(
                f"{problem.task_id}: {result.status} after {result.rounds} round(s), "
                f"hidden test {'passed' if passed else 'failed'}, {walls[-1]:.0f}s",
                file=sys.stderr,
            )
    print(f"tasks {len(problems)}")
    print(f"succeeded_first_time {first}")
    print(f"correct_hidden_test {correct}")
    print(f"mean_wall_seconds {statistics.mean(walls):.1f}")
    print(f"succeeded_after_refine {after}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refine-rounds", type=int, default=2)
    parser.add_argument("--only", default="", help="comma-separated task names (rle,roman)")
    a = parser.parse_args()
    exit_after(lambda: asyncio.run(main(a.refine_rounds, set(filter(None, a.only.split(","))))))
