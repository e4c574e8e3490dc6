"""The harness on the real SmolLM2-135M (the bundled weights) under the engine supervisor:
two easy HumanEval problems through the direct and single-model policies complete and are
recorded. Pass or fail are both results: the 135M model is weak."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import Client

from cli.evals import load_problems
from cli.harness.config import DIRECT, SINGLE, HarnessOptions, harness_settings
from cli.harness.results import ResultsFile
from cli.harness.runner import Harness
from cli.harness.stack import serving
from naestro.contracts import Budget
from tests.sandbox.test_humaneval import humaneval_path
from tests.support import free_port, make_settings, replay_provider, write_script

# The engine's start and four short generations; generous for shared, busy CPUs.
pytestmark = pytest.mark.timeout(600)
EASY = (23, 2)  # strlen, truncate_number


async def test_direct_and_single_on_the_real_small_model(client: Client, tmp_path: Path) -> None:
    script = write_script(tmp_path / "script.jsonl", [])
    base = make_settings(tmp_path, [replay_provider(script)], sandbox={"backend": "bwrap"})
    options = HarnessOptions(
        engines=["smollm2-135m"], base_port=free_port(), max_output_tokens=200, context_size=2048
    )
    settings = harness_settings(base, options)
    everything = load_problems(humaneval_path())
    problems = [everything[i] for i in EASY]
    results = ResultsFile(tmp_path / "results.jsonl")
    async with serving(client, settings):
        harness = Harness(client, settings, results, Budget(max_tokens=4000, max_refine_rounds=0))
        await harness.run(problems, [DIRECT, SINGLE])
    rows = ResultsFile(results.path).rows
    assert sorted((r.policy, r.task_id) for r in rows) == sorted(
        (policy, p.task_id) for p in problems for policy in (DIRECT, SINGLE)
    )
    for row in rows:
        assert row.output_tokens > 0 and row.wall_seconds > 0 and row.check, row
    assert {r.status for r in rows if r.policy == DIRECT} == {"answered"}
    assert all(r.workflow_id and r.model_calls >= 1 for r in rows if r.policy == SINGLE)
