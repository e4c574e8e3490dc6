"""ConsensusWorkflow on a real dev server with scripted providers."""

from __future__ import annotations

from pathlib import Path

from temporalio.client import Client

from naestro.client import start_task
from naestro.contracts import TaskRequest, TaskResult
from tests.consensus.scripts import TASK, consensus_settings, panel, panel_roles, text
from tests.support import running_workers
from tests.workflow.scripts import BUGGY, FIXED, PROMPT, TESTS


async def run_task(client: Client, settings_queue: str, prompt: str = TASK) -> TaskResult:
    handle = await start_task(client, TaskRequest(prompt=prompt), task_queue=settings_queue)
    return await handle.result()


def providers_of(result: TaskResult, role: str) -> set[str]:
    return {c.provider for c in result.trace if c.role == role}


async def test_panel_reaches_a_verdict_with_confidence(client: Client, tmp_path: Path) -> None:
    settings = consensus_settings(tmp_path, panel(), panel_roles())
    async with running_workers(client, settings):
        result = await run_task(client, settings.queues.orchestrator)

    assert result.status == "succeeded", result.reason
    assert result.answer == "Paris is the capital of France."
    summary = result.consensus
    assert summary is not None
    assert (summary.proposals, summary.critiques, summary.rounds) == (3, 2, 1)
    assert summary.early_exit == ""
    assert providers_of(result, "proposer") == {"p1", "p2", "p3"}
    assert providers_of(result, "critic") == {"c1", "c2"}
    assert providers_of(result, "synthesizer") == {"synth"}
    assert providers_of(result, "judge") == {"judge"}
    # Two of three proposals differ only in wording: no normalised agreement beyond 1/3.
    assert summary.components["agreement"] == round(1 / 3, 6)
    assert summary.components["judge"] == 0.9
    assert 0.0 < summary.confidence <= 1.0
    assert result.confidence is not None and 0.5 < result.confidence <= 1.0
    by_role = {r.role: r for r in result.roles}
    assert by_role["proposer"].calls == 3 and by_role["critic"].calls == 2
    assert sum(r.cost_usd for r in result.roles) == result.spend.usd


async def test_self_consensus_samples_one_provider(client: Client, tmp_path: Path) -> None:
    scripts = {**panel(), "p1": text("Paris.")}
    settings = consensus_settings(
        tmp_path, scripts, panel_roles(), consensus={"self_consensus": True, "proposers": 4}
    )
    async with running_workers(client, settings):
        result = await run_task(client, settings.queues.orchestrator)

    assert result.status == "succeeded", result.reason
    proposer_calls = [c for c in result.trace if c.role == "proposer"]
    assert len(proposer_calls) == 4 and {c.provider for c in proposer_calls} == {"p1"}
    assert result.consensus is not None
    assert result.consensus.early_exit == "proposals agree: synthesis skipped"
    assert result.consensus.components["agreement"] == 1.0
    assert not providers_of(result, "critic") and not providers_of(result, "synthesizer")


async def test_identical_verification_outcomes_skip_synthesis(
    client: Client, tmp_path: Path
) -> None:
    variant = FIXED.replace("return a + b", "total = a + b\n    return total")
    scripts = {
        **panel(),
        "p1": text(FIXED + "\n\n" + TESTS),
        "p2": text(variant + "\n\n" + TESTS),
        "p3": text(TESTS + "\n\n" + FIXED),
    }
    settings = consensus_settings(tmp_path, scripts, panel_roles())
    async with running_workers(client, settings):
        handle = await start_task(
            client, TaskRequest(prompt=PROMPT, kind="code"), task_queue=settings.queues.orchestrator
        )
        result = await handle.result()

    assert result.status == "succeeded", result.reason
    summary = result.consensus
    assert summary is not None
    assert summary.early_exit == "identical verification outcomes: synthesis skipped"
    assert summary.components["verification"] == 1.0
    assert not providers_of(result, "critic") and not providers_of(result, "synthesizer")
    assert result.verification is not None and result.verification.passed


async def test_refine_phase_deliberates_too(client: Client, tmp_path: Path) -> None:
    proposer = [{"contains": "Previous attempt", "text": FIXED + "\n\n" + TESTS}]
    proposer.append({"text": BUGGY + "\n\n" + TESTS})
    scripts = {**panel(), "p1": proposer, "p2": proposer, "p3": proposer}
    settings = consensus_settings(
        tmp_path, scripts, panel_roles(), consensus={"phases": ["implement", "refine"]}
    )
    async with running_workers(client, settings):
        handle = await start_task(
            client, TaskRequest(prompt=PROMPT, kind="code"), task_queue=settings.queues.orchestrator
        )
        result = await handle.result()

    assert result.status == "succeeded", result.reason
    assert result.rounds == 1
    assert {c.phase for c in result.trace if c.role == "proposer"} == {"implement", "refine"}
    refine = await client.get_workflow_handle(f"{handle.id}-consensus-refine-1").describe()
    assert refine.status is not None and refine.status.name == "COMPLETED"
