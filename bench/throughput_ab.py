"""Throughput before and after: bench/throughput.py's one-worker mode for this checkout and
another, alternating, in one run.

On a machine whose speed moves between runs (this 2-core one: the same code gave 12 to 41
calls/s minutes apart), two figures taken apart say little; pairs run back to back say
what a change did. ``--against DIR`` is the other checkout, e.g. the commit before a change:

    git worktree add /tmp/before HEAD~1
    .venv/bin/python bench/throughput_ab.py --against /tmp/before [--pairs 3] [--seconds 20]
        [--no-stream]

Each side runs in a process of its own that imports that checkout's code (its
bench/throughput.py ``run_mode``, its dev server configuration, its workers), on a fresh
dev server; the other checkout's bench must have ``run_mode`` (every version since the
bench was added does). Prints each pair's calls/s and CPU ms a call (workers + dev
server), then the medians and their ratio, after / before, last (> 1: this checkout does
more calls a second).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent
SIDE_TIMEOUT_S = 600


async def side(root: Path, a: argparse.Namespace) -> dict[str, float]:
    """One run of ``root``'s one-worker mode (in this process: its code is on sys.path)."""
    sys.path[:0] = [str(root), str(root / "bench")]
    import throughput
    from temporalio.testing import WorkflowEnvironment

    from cli.devstack import DEV_SERVER_DYNAMIC_CONFIG, SQLITE_FILE_ARGS, find_temporal
    from naestro import search
    from naestro.codec import converter_from_env

    with tempfile.TemporaryDirectory() as tmp:
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=find_temporal(HERE / ".naestro"),
            dev_server_database_filename=str(Path(tmp) / "temporal.sqlite"),
            dev_server_extra_args=[*DEV_SERVER_DYNAMIC_CONFIG, *SQLITE_FILE_ARGS],
            search_attributes=search.ALL,
            data_converter=converter_from_env(),
        )
        async with env:
            server = throughput.dev_server_pid()
            figures: dict[str, float] = await throughput.run_mode(
                env.client, server, Path(tmp), 1, a
            )
            return figures


def run_side(root: Path, a: argparse.Namespace) -> dict[str, Any]:
    """``root``'s figures, from a process of its own."""
    line = [sys.executable, __file__, "--side", str(root), "--seconds", str(a.seconds)]
    line += ["--warmup", str(a.warmup), "--tasks-in-flight", str(a.tasks_in_flight)]
    line += ["--no-stream"] if a.no_stream else []
    out = subprocess.run(
        line, capture_output=True, text=True, timeout=SIDE_TIMEOUT_S, cwd=root, check=False
    )
    if out.returncode != 0:
        raise SystemExit(f"throughput_ab: {root} failed:\n{out.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def main(a: argparse.Namespace) -> None:
    against = a.against.resolve()
    if not (against / "bench" / "throughput.py").is_file():
        raise SystemExit(f"--against {a.against}: no bench/throughput.py there")
    sides = {"before": against, "after": HERE}
    calls: dict[str, list[float]] = {name: [] for name in sides}
    for pair in range(1, a.pairs + 1):
        for name, root in sides.items():
            got = run_side(root, a)
            calls[name].append(got["model_calls_per_s"])
            print(f"pair{pair}_{name}_model_calls_per_s {got['model_calls_per_s']:.3f}")
            print(f"pair{pair}_{name}_cpu_ms_per_call {got['cpu_ms_per_call']:.3f}", flush=True)
    medians = {name: statistics.median(values) for name, values in calls.items()}
    for name, value in medians.items():
        print(f"{name}_median_model_calls_per_s {value:.3f}")
    print(f"after_before_ratio {medians['after'] / max(medians['before'], 1e-9):.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", type=Path, help="the other checkout (the before side)")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0, help="each run's window")
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--tasks-in-flight", type=int, default=128)
    parser.add_argument("--no-stream", action="store_true", help="the policy's stream off")
    parser.add_argument("--side", type=Path, help=argparse.SUPPRESS)  # one side's process
    a = parser.parse_args()
    if a.side is not None:
        # Nothing of ours is imported before ``side`` puts that checkout first on the path.
        # It leaves by os._exit, as naestro/exit.py does (the Temporal bridge's threads can
        # abort interpreter teardown), once its line is out.
        print(json.dumps(asyncio.run(side(a.side.resolve(), a))), flush=True)
        os._exit(0)
    elif a.against is None:
        parser.error("--against DIR is required (the checkout to compare with)")
    else:
        main(a)
