"""HumanEval through VerifyWorkflow and the Verify activity on real workers, both backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import Client

from cli.evals import (
    Problem,
    Sample,
    TaskOutcome,
    canonical_samples,
    evaluate,
    load_problems,
)
from naestro.config.settings import Settings
from tests.support import make_settings, replay_provider, running_workers, write_script

ROOT = Path(__file__).resolve().parents[2]


def humaneval_path() -> Path:
    """../shared/data/HumanEval.jsonl.gz beside the repo (or beside a parent, for worktrees)."""
    for base in (ROOT, *ROOT.parents):
        found = base.parent / "shared" / "data" / "HumanEval.jsonl.gz"
        if found.exists():
            return found
    raise AssertionError(f"HumanEval.jsonl.gz not found in ../shared/data beside {ROOT}")


@pytest.fixture(scope="module")
def problems() -> list[Problem]:
    return load_problems(humaneval_path())


def sandbox_settings(tmp_path: Path, backend: str, **sandbox: str) -> Settings:
    script = write_script(tmp_path / "script.jsonl", [])
    section = {"backend": backend, **sandbox}
    return make_settings(tmp_path, [replay_provider(script)], sandbox=section)


async def run_eval(
    client: Client, settings: Settings, problems: list[Problem], samples: list[Sample]
) -> list[TaskOutcome]:
    return await evaluate(
        client,
        orchestrator_queue=settings.queues.orchestrator,
        sandbox_queue=settings.queues.sandbox,
        problems=problems,
        samples=samples,
        limits=settings.sandbox.limits,
    )


def mutated(problems: list[Problem]) -> list[Sample]:
    """Every fourth solution's body replaced by ``return None`` (a spread of 41 tasks: the
    mutants only have to fail, and every run costs a container start)."""
    return [Sample(task_id=p.task_id, completion="    return None\n") for p in problems[::4]]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("backend", ["bwrap", "docker"])
async def test_canonical_solutions_pass_and_mutants_fail(
    client: Client, tmp_path: Path, problems: list[Problem], backend: str
) -> None:
    # bwrap runs all 164 canonical solutions; Docker, a container start each, another
    # spread of 41 (every problem in Docker: bench/sandbox.py, make bench).
    assert len(problems) == 164
    canonical = problems if backend == "bwrap" else problems[2::4]
    settings = sandbox_settings(tmp_path, backend)
    async with running_workers(client, settings):
        good = await run_eval(client, settings, problems, canonical_samples(canonical))
        bad = await run_eval(client, settings, problems, mutated(problems))
    assert [o.task_id for o in good if not o.passed] == []
    assert {o.backend for o in good} == {backend}
    assert [o.task_id for o in bad if o.passed] == []
    assert all("AssertionError" in o.summary or "Error" in o.summary for o in bad)
