"""Side effects a drill counts outside Temporal: the calls a scripted provider received (its
``record:`` log) and the rows memory wrote back per task (Postgres)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import asyncpg

from tests.drills.load import Ledger, Outcome


def recorded_calls(log: Path) -> Counter[str]:
    """Requests per task id in a replay provider's log (a line still being written is
    left for the next read)."""
    if not log.exists():
        return Counter()
    text = log.read_text(encoding="utf-8")
    lines = text.split("\n")[:-1]  # the last piece has no newline yet (or is empty)
    return Counter(json.loads(line)["task_id"] for line in lines if line.strip())


_ROWS = """
SELECT $1::text AS task_id,
       (SELECT count(*) FROM tasks WHERE task_id = $1) AS tasks,
       (SELECT count(*) FROM documents WHERE source = 'task:' || $1) AS documents,
       (SELECT count(*) FROM decision_traces WHERE task_id = $1) AS traces
"""


async def memory_rows(url: str, ids: list[str]) -> dict[str, tuple[int, int, int]]:
    """(task rows, answer documents, decision-trace rows) memory holds for each task."""
    conn = await asyncpg.connect(url)
    try:
        rows = [await conn.fetchrow(_ROWS, i) for i in ids]
    finally:
        await conn.close()
    return {r["task_id"]: (r["tasks"], r["documents"], r["traces"]) for r in rows}


async def account_memory(url: str, outcomes: list[Outcome], ledger: Ledger) -> None:
    """A task's write-back is an upsert: it never leaves two answers or more trace rows
    than the task made calls. A task whose write-back never landed is noted (memory failing
    never fails a task, by design), not counted as lost; a failed task writes none back."""
    rows = await memory_rows(url, [o.task_id for o in outcomes])
    missing = []
    for o in outcomes:
        tasks, documents, traces = rows[o.task_id]
        calls = len(o.result.trace) if o.result else 0
        if documents > 1 or traces > calls:
            ledger.duplicated += max(0, documents - 1) + max(0, traces - calls)
            ledger.note(f"{o.task_id}: {documents} answers, {traces} trace rows for {calls}")
        if o.status not in ("cancelled", "failed") and tasks == 0:
            missing.append(o.task_id)
    present = sum(1 for o in outcomes if rows[o.task_id][0])
    ledger.note(f"memory rows {present}/{len(outcomes)}")
    if missing:
        ledger.note(f"write-back missing for {len(missing)}")
