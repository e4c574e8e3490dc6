"""The harness on scripted models: the direct policy against a loopback engine, the
single-model policy on the replay provider, pass@1 by the hidden test in the sandbox, and
a rerun that resumes from the results file."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import Client

from cli.harness.config import DIRECT, POLICY_NAMES, ROLES, SINGLE
from cli.harness.results import ResultRow, ResultsFile
from cli.harness.runner import Harness
from naestro.config.settings import Settings
from naestro.contracts import Budget
from tests.harness.tiny import ADD, NEG_WRONG, PROBLEMS, chat_reply, task_rules
from tests.providers.wire import Reply, WireServer
from tests.support import make_settings, replay_provider, running_workers, write_script

pytestmark = pytest.mark.timeout(180)


def _settings(tmp_path: Path, wire: WireServer) -> Settings:
    engine = {
        "id": "tiny",
        "engine": "openai-compatible",
        "model": "tiny",
        "endpoint": f"{wire.url}/v1",
    }
    script = write_script(tmp_path / "script.jsonl", task_rules())
    roles = dict.fromkeys(ROLES, ["scripted"])
    return make_settings(
        tmp_path,
        [engine, replay_provider(script)],
        policies={POLICY_NAMES[SINGLE]: {"roles": roles, "memory": False}},
        sandbox={"backend": "bwrap"},
    )


async def _run(client: Client, settings: Settings, results: Path) -> list[ResultRow]:
    seen: list[ResultRow] = []
    file = ResultsFile(results)
    harness = Harness(client, settings, file, Budget(max_refine_rounds=0))
    harness.on_row = lambda row, number, total: seen.append(row)
    await harness.run(PROBLEMS, [DIRECT, SINGLE])
    return seen


async def test_pass_at_1_by_the_hidden_test_and_a_rerun_resumes(
    client: Client, wire: WireServer, tmp_path: Path
) -> None:
    wire.script("/v1/chat/completions", Reply(body=chat_reply(NEG_WRONG)))
    settings = _settings(tmp_path, wire)
    results = tmp_path / "results.jsonl"
    # Done before: direct on Tiny/0 (a rerun must not ask the engine again).
    done = ResultRow(policy=DIRECT, task_id="Tiny/0", passed=True, output_tokens=7)
    ResultsFile(results).append(done)
    async with running_workers(client, settings):
        first = await _run(client, settings, results)
        second = await _run(client, settings, results)
        harness = Harness(client, settings, ResultsFile(results), Budget())
        right = await harness.check(PROBLEMS[0], ADD)
        no_code = await harness.check(PROBLEMS[0], "I cannot help with that.")
    outcome = {(r.policy, r.task_id): r.passed for r in first}
    assert outcome == {
        (SINGLE, "Tiny/0"): True,  # right: the hidden test passes
        (DIRECT, "Tiny/1"): False,  # wrong: the hidden test fails
        (SINGLE, "Tiny/1"): False,  # wrong, though its own tests passed
    }
    assert len(wire.requests) == 1  # direct asked once: Tiny/0 was done
    assert wire.last().body["temperature"] == 0.0
    direct = next(r for r in first if r.policy == DIRECT)
    assert (direct.input_tokens, direct.output_tokens, direct.status) == (40, 20, "answered")
    single = next(r for r in first if r.policy == SINGLE)
    assert single.model_calls >= 3 and single.workflow_id.startswith("eval-single-")
    assert "AssertionError" in next(r.check for r in first if r.task_id == "Tiny/1")
    assert second == []  # everything done: nothing asked again
    assert len(ResultsFile(results).rows) == 4
    assert right[0] and no_code == (False, "no solution code in the answer")
