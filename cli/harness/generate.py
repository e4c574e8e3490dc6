"""One harness run: choose the problems, start the engines and workers, answer and check
each problem under each policy (resuming from the results file), and sum up."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cli.evals import Backend, load_problems
from cli.harness.config import (
    DIRECT,
    SELF_CONSENSUS,
    SINGLE,
    HarnessOptions,
    available,
    harness_settings,
)
from cli.harness.problems import select
from cli.harness.results import PolicySummary, ResultsFile, summarize
from cli.harness.runner import Harness, OnRow
from cli.harness.stack import embedded
from naestro.config.settings import Settings
from naestro.contracts import Budget


@dataclass(frozen=True)
class GenerateOptions:
    problems_file: Path
    results: Path
    engines: list[str]
    policies: list[str] = field(default_factory=lambda: [DIRECT, SINGLE, SELF_CONSENSUS])
    indices: str | None = None
    limit: int | None = None
    max_tokens: int = 8000  # budget.max_tokens of every problem, whatever the policy
    max_output_tokens: int = 512
    refine_rounds: int = 1
    proposers: int = 3
    base_port: int = 18080
    threads: int | None = None
    backend: Backend | None = None


async def generate(
    base: Settings,
    options: GenerateOptions,
    on_row: OnRow | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> list[PolicySummary]:
    problems = select(load_problems(options.problems_file), options.indices, options.limit)
    settings = harness_settings(
        base,
        HarnessOptions(
            engines=options.engines,
            base_port=options.base_port,
            proposers=options.proposers,
            max_output_tokens=options.max_output_tokens,
            threads=options.threads,
        ),
    )
    policies = available(options.policies, len(options.engines))
    results = ResultsFile(options.results)
    budget = Budget(max_tokens=options.max_tokens, max_refine_rounds=options.refine_rounds)
    async with embedded(settings, on_wait) as client:
        harness = Harness(client, settings, results, budget, options.backend, on_row)
        await harness.run(problems, policies)
    return summarize(results.rows, policies, [p.task_id for p in problems])
