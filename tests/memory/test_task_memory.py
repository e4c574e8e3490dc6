"""TaskWorkflow with memory on a real dev server and real Postgres: cited context in the
plan prompt, write-back with the verification outcome, k-NN recall of past tasks, and an
ingest workflow on the memory queue."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import asyncpg
from temporalio.client import Client

from activities.memory.chunking import Chunk
from activities.memory.service import MemoryService
from activities.memory.store import NewDocument
from naestro.client import start_task
from naestro.config.settings import Settings
from naestro.contracts import TaskRequest
from naestro.contracts.memory import IngestRequest
from tests.support import make_settings, replay_provider, running_workers, write_script
from tests.workflow.scripts import PROMPT, code_task_rules
from workflows.ingest import IngestWorkflow

GUIDE = "House style for add(a, b): name the tests test_adds_* and keep them in test_solution.py."


def _settings(tmp_path: Path, url_env: str, **memory: Any) -> Settings:
    rules = [
        {"role": "planner", "contains": "Context from memory", "text": "PLAN USING MEMORY [1]"},
        *code_task_rules(),
    ]
    script = write_script(tmp_path / "script.jsonl", rules)
    return make_settings(
        tmp_path,
        [replay_provider(script)],
        memory={
            "enabled": True,
            "database_url_env": url_env,
            "write_back_scripted": True,  # these tests use scripted replies on purpose
            **memory,
        },
    )


async def _run(client: Client, settings: Settings) -> Any:
    request = TaskRequest(prompt=PROMPT, kind="code")
    handle = await start_task(client, request, task_queue=settings.queues.orchestrator)
    return await handle.result()


async def test_tasks_recall_cited_context_and_learn_from_verified_results(
    client: Client, tmp_path: Path, service: MemoryService, conn: asyncpg.Connection,
    url_env: str,
) -> None:  # fmt: skip
    ingestor = await service.ingestor()
    await ingestor.add_text(NewDocument("default", "docs", "style.md", GUIDE, [Chunk("", GUIDE)]))
    settings = _settings(tmp_path, url_env)
    async with running_workers(client, settings):
        first = await _run(client, settings)
        second = await _run(client, settings)
    assert first.status == "succeeded", first.reason
    assert first.plan == "PLAN USING MEMORY [1]"
    assert first.memory is not None and any("style.md" in c for c in first.memory.citations)
    assert first.memory.similar_tasks == []
    task = await conn.fetchrow("SELECT * FROM tasks WHERE task_id = $1", first.task_id)
    assert task["verified"] is True and task["status"] == "succeeded"
    assert task["tokens"] == first.spend.tokens
    assert await conn.fetchval("SELECT plan FROM plans WHERE task_id = $1", first.task_id) == (
        first.plan
    )
    traces = await conn.fetch(
        "SELECT phase, role FROM decision_traces WHERE task_id = $1 ORDER BY seq", first.task_id
    )
    assert [(r["phase"], r["role"]) for r in traces] == [(c.phase, c.role) for c in first.trace]
    answer = await conn.fetchrow("SELECT kind, verified FROM chunks WHERE task_id = $1 LIMIT 1",
                                 first.task_id)  # fmt: skip
    assert (answer["kind"], answer["verified"]) == ("answer", True)
    # The second, identical task finds the first by k-NN, with its budget, and is cited the
    # verified answer.
    assert second.memory is not None
    assert second.memory.similar_tasks[0] == first.task_id
    assert second.memory.estimated_tokens == first.spend.tokens
    assert any(f"task:{first.task_id}" in c for c in second.memory.citations)


async def test_policy_without_memory_skips_it(
    client: Client, tmp_path: Path, db_url: str, url_env: str, conn: asyncpg.Connection
) -> None:
    settings = _settings(tmp_path, url_env)
    settings = settings.model_copy(
        update={"policies": {"default": settings.policies["default"].model_copy(
            update={"memory": False})}}
    )  # fmt: skip
    async with running_workers(client, settings):
        result = await _run(client, settings)
    assert result.status == "succeeded"
    assert result.memory is None and result.plan == "1. Write add. 2. Test it."
    assert await conn.fetchval("SELECT count(*) FROM tasks") == 0


async def test_ingest_workflow_runs_on_the_memory_queue(
    client: Client, tmp_path: Path, url_env: str, conn: asyncpg.Connection
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(3):
        (docs / f"n{i}.md").write_text(f"# Note {i}\nText {i}.\n")
    settings = _settings(tmp_path, url_env)
    request = IngestRequest(paths=[str(docs)], collection="notes",
                            task_queue=settings.queues.memory)  # fmt: skip
    async with running_workers(client, settings):
        report = await client.execute_workflow(
            IngestWorkflow.run, request, id=f"ingest-{uuid.uuid4()}",
            task_queue=settings.queues.orchestrator,
        )  # fmt: skip
    assert (report.files, report.documents, report.chunks) == (3, 3, 3)
    assert await conn.fetchval("SELECT count(*) FROM documents WHERE collection = 'notes'") == 3


async def test_scripted_tasks_are_not_past_work_and_unrelated_tasks_are_not_recalled(
    client: Client, tmp_path: Path, conn: asyncpg.Connection, url_env: str
) -> None:
    """Memory as configured in use: a task answered by scripted replies is not written back
    (a later real task must not plan from a script), and a past task below the similarity
    threshold is not offered as a similar task."""
    settings = _settings(tmp_path, url_env, write_back_scripted=False)
    async with running_workers(client, settings):
        scripted = await _run(client, settings)
    assert scripted.scripted and scripted.status == "succeeded"
    row = await conn.fetchrow("SELECT 1 FROM tasks WHERE task_id = $1", scripted.task_id)
    assert row is None

    kept = _settings(tmp_path, url_env)  # write_back_scripted, for the test's first task
    unrelated = TaskRequest(
        prompt="Describe the migration of arctic terns in a haiku.", kind="code"
    )
    async with running_workers(client, kept):
        first = await _run(client, kept)
        handle = await start_task(client, unrelated, task_queue=kept.queues.orchestrator)
        second = await handle.result()
    assert first.status == "succeeded"
    assert second.memory is not None and first.task_id not in second.memory.similar_tasks
    # ... nor is its answer, stored as a chunk, cited as context for an unrelated prompt
    assert not any(first.task_id in c for c in second.memory.citations)
    assert second.memory.citations == []
