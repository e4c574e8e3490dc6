"""What every drill shares: settings for a scripted load with memory on, and the end of a
drill (account, record the row, assert)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from naestro.config.settings import Settings
from tests.drills.effects import account_memory
from tests.drills.load import Load, account, assert_terminal, row
from tests.drills.report import Row, append
from tests.support import make_settings, replay_provider, write_script
from tests.workflow.scripts import FIXED, TESTS, verdict

TASKS = 12
ANSWER = "Reliable systems keep their promises when parts of them fail."


def general_rules() -> list[dict[str, Any]]:
    """A general task's three calls: plan, implement, review (accepted)."""
    return [
        {"role": "planner", "text": "1. Write the sentence."},
        {"phase": "implement", "text": ANSWER},
        {"role": "judge", "text": verdict(0.9)},
    ]


def code_rules(tasks: int) -> list[dict[str, Any]]:
    """Code tasks answered right the first time (one verification each), each with files
    of its own, so the test cache answers none of them from another task's run; a refine
    round (after a run the full scratch spoiled) answers the same again."""
    implement = [
        {
            "phase": phase,
            "contains": f"task {i}:",
            "text": FIXED.replace("a + b", f"a + b  # task {i}") + "\n\n" + TESTS,
        }
        for i in range(tasks)
        for phase in ("implement", "refine")
    ]
    return [
        {"role": "planner", "text": "1. Write add. 2. Test it."},
        *implement,
        {"role": "judge", "text": verdict(0.9)},
    ]


def scripted_settings(
    tmp_path: Path,
    log: Path,
    latency_ms: float = 1500,
    rules: list[dict[str, Any]] | None = None,
    **sections: Any,
) -> Settings:
    """One scripted provider (``rules``, default: a general task's) that answers after
    ``latency_ms`` (so calls are in flight when a fault hits) and records every request in
    ``log``; memory on, scripted answers kept (they are what the drill counts); a silent
    call is retried after 2 s."""
    script = write_script(tmp_path / "script.jsonl", rules or general_rules())
    provider = replay_provider(
        script, record=str(log), simulated_latency_ms=latency_ms, max_concurrency=64
    )
    memory = {"enabled": True, "write_back_scripted": True}
    return make_settings(
        tmp_path, [provider], policy={"heartbeat_timeout_seconds": 2}, memory=memory, **sections
    )


async def finish(
    load: Load,
    report: Path,
    recovery: tuple[float, float],
    memory_url: str | None = None,
    notes: list[str] | None = None,
) -> Row:
    """Account for the load, append the drill's row to the report, then assert: every task
    terminal (a failure with its reason), none lost, no side effect twice."""
    outcomes = await load.outcomes()
    ledger = await account(load, outcomes)
    ledger.notes += notes or []
    if memory_url is not None:
        await account_memory(memory_url, outcomes, ledger)
    measured = row(load.drill, outcomes, ledger, recovery)
    append(report, measured)
    assert_terminal(outcomes)
    assert ledger.lost == 0, measured
    assert ledger.duplicated == 0, measured
    return measured
