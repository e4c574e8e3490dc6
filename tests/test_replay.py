"""Determinism gate: recorded TaskWorkflow histories replay on today's workflow code."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowHistory

from naestro.client import start_task
from naestro.contracts import TaskRequest
from tests.replay import replayer
from tests.support import make_settings, replay_provider, running_workers, write_script
from tests.workflow.scripts import PROMPT, code_task_rules

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_histories_are_recorded() -> None:
    assert HISTORIES, "tests/histories/ holds no recorded history (run `make histories`)"


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, await asyncio.to_thread(path.read_text))
    result = await replayer().replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None


async def test_fresh_history_replays(client: Client, tmp_path: Path) -> None:
    script = write_script(tmp_path / "s.jsonl", code_task_rules())
    settings = make_settings(tmp_path, [replay_provider(script)])
    async with running_workers(client, settings):
        handle = await start_task(
            client, TaskRequest(prompt=PROMPT, kind="code"), task_queue=settings.queues.orchestrator
        )
        await handle.result()
    history = await handle.fetch_history()
    await replayer(client.data_converter).replay_workflow(history)
