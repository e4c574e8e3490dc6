"""Text Postgres refuses (NUL) or UTF-8 cannot carry (a lone surrogate) in a task's prompt,
plan or answer: the write-back keeps the task, cleaned, instead of failing on every retry."""

from __future__ import annotations

import asyncpg

from activities.memory.service import MemoryService
from naestro.contracts.memory import SearchRequest, WriteBackRequest


async def test_write_back_stores_text_with_nul_and_lone_surrogates(
    service: MemoryService, conn: asyncpg.Connection
) -> None:
    past = WriteBackRequest(
        task_id="task-hostile",
        tenant="acme",
        prompt="Summarise the log\x00 with a broken \ud800 char",
        plan="1. Read\x00 it.",
        answer="The log\x00 says \udfff: disk full.",
        status="succeeded",
        verified=True,
    )
    await service.write_back(past)
    row = await conn.fetchrow("SELECT prompt FROM tasks WHERE task_id = 'task-hostile'")
    plan = await conn.fetchval("SELECT plan FROM plans WHERE task_id = 'task-hostile'")
    chunks = await conn.fetch("SELECT content FROM chunks WHERE task_id = 'task-hostile'")
    assert row is not None and row["prompt"] == "Summarise the log\ufffd with a broken \ufffd char"
    assert plan == "1. Read\ufffd it."
    assert chunks and "The log\ufffd says \ufffd: disk full." in chunks[0]["content"]
    found = await service.search(SearchRequest(query="disk full log", tenant="acme"))
    assert [h.task_id for h in found.hits] == ["task-hostile"]
