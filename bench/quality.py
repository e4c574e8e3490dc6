"""Quality of Naestro's policies on a real model: HumanEval problems answered by
Qwen2.5-Coder-1.5B (a bundled llama.cpp engine under the supervisor) (a) called directly
with one prompt at temperature 0, (b) through the single-model policy, (c) through
self-consensus (the model sampled N times), every problem with the same token budget, in
one run; each answer checked with the problem's hidden test in the sandbox.

Prints ``name value`` lines: pass@1 (%), tokens per problem and wall seconds per policy,
the gains over (a) in points and the token ratios to (a), the goals ((b) >= (a);
(c) >= (a) + 5 points at <= 3x (a)'s tokens) as 1/0, and the self-consensus gain last.

    .venv/bin/python bench/quality.py [--problems 30-59] [--engine qwen2.5-coder-1.5b]

The default slice leaves out HumanEval's easy start (calling the model directly already
passes 29 of 0-29). Results go to a JSONL file: a rerun with the same file resumes.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cli.harness import report
from cli.harness.config import DIRECT, SELF_CONSENSUS, SINGLE
from cli.harness.generate import GenerateOptions, generate
from cli.harness.problems import default_problems
from cli.harness.results import ResultRow
from naestro.config.settings import load_settings
from naestro.exit import exit_after

ROOT = Path(__file__).resolve().parent.parent


def _progress(row: ResultRow, number: int, total: int) -> None:
    mark = "PASS" if row.passed else "FAIL"
    sys.stderr.write(
        f"[{number}/{total}] {mark} {row.task_id} {row.policy}: {row.tokens} tokens, "
        f"{row.wall_seconds:.1f}s, {row.status}\n"
    )


def _note(line: str) -> None:
    sys.stderr.write(line + "\n")


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--problems", default="30-59", help="HumanEval positions, e.g. 30-59")
    parser.add_argument("--engine", default="qwen2.5-coder-1.5b")
    parser.add_argument("--proposers", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=8000, help="budget per problem")
    parser.add_argument("--max-output-tokens", type=int, default=512)
    parser.add_argument("--refine-rounds", type=int, default=1)
    parser.add_argument("--port", type=int, default=18090)
    parser.add_argument("--results", type=Path, default=None, help="default: .naestro/bench/")
    return parser.parse_args()


def main() -> int:
    args = _args()
    results = args.results or ROOT / ".naestro" / "bench" / (
        f"quality-{args.engine}-{args.problems}-b{args.max_tokens}.jsonl"
    )
    options = GenerateOptions(
        problems_file=default_problems(ROOT),
        results=results,
        engines=[args.engine],
        policies=[DIRECT, SINGLE, SELF_CONSENSUS],
        indices=args.problems,
        max_tokens=args.max_tokens,
        max_output_tokens=args.max_output_tokens,
        refine_rounds=args.refine_rounds,
        proposers=args.proposers,
        base_port=args.port,
    )
    summaries = asyncio.run(generate(load_settings(), options, _progress, _note))
    lines = report.figures(summaries) + [(k, int(v)) for k, v in report.goals(summaries)]
    headline = "self_consensus_gain_points"
    for name, value in [
        *(x for x in lines if x[0] != headline),
        *(x for x in lines if x[0] == headline),
    ]:
        sys.stdout.write(f"{name} {value}\n")
    sys.stderr.write(f"results: {results}\n")
    return 0


if __name__ == "__main__":
    exit_after(main)
