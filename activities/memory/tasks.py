"""Past tasks in memory: write-back after a task, k-NN recall before the next one's Plan.

A finished task is stored with its plan, its decision trace (every model call) and its
verification outcome; its answer becomes an ``answer`` chunk in the ``answers`` collection,
``verified`` when Verify passed and the judge accepted it, so retrieval ranks it above
unverified answers (fusion.boost). Recall returns the nearest past tasks of the tenant and
estimates the budget from those that succeeded.
"""

from __future__ import annotations

import statistics

import asyncpg
import numpy as np

from activities.memory.chunking import chunk_text
from activities.memory.embedders import Vectors
from activities.memory.ingest import Ingestor
from activities.memory.store import NewDocument
from naestro.contracts.memory import PastTask, WriteBackRequest
from naestro.contracts.text import clean_text

ANSWERS = "answers"

_UPSERT_TASK = """
INSERT INTO tasks (task_id, tenant, kind, prompt, status, verified, judge_score, tokens, usd,
                   rounds, embedding)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (task_id) DO UPDATE SET status = excluded.status, verified = excluded.verified,
    judge_score = excluded.judge_score, tokens = excluded.tokens, usd = excluded.usd,
    rounds = excluded.rounds
"""

_SIMILAR = """
SELECT t.task_id, t.prompt, coalesce(p.plan, '') AS plan, t.status, t.verified, t.tokens,
       t.usd, 1 - (t.embedding <=> $1) AS similarity
FROM tasks t LEFT JOIN plans p USING (task_id)
WHERE t.tenant = $2 AND t.kind = $3 AND 1 - (t.embedding <=> $1) >= $5
ORDER BY t.embedding <=> $1
LIMIT $4
"""


async def store_task(conn: asyncpg.Connection, req: WriteBackRequest, embedding: Vectors) -> None:
    """Task, plan and decision trace in one transaction (idempotent: retries overwrite)."""
    async with conn.transaction():
        await conn.execute(
            _UPSERT_TASK, req.task_id, req.tenant, req.kind, req.prompt, req.status,
            req.verified, req.judge_score, req.tokens, req.usd, req.rounds,
            np.asarray(embedding, dtype=np.float32),
        )  # fmt: skip
        if req.plan:
            await conn.execute(
                "INSERT INTO plans (task_id, plan) VALUES ($1, $2) "
                "ON CONFLICT (task_id) DO UPDATE SET plan = excluded.plan",
                req.task_id,
                req.plan,
            )
        await conn.execute("DELETE FROM decision_traces WHERE task_id = $1", req.task_id)
        await conn.executemany(
            "INSERT INTO decision_traces (task_id, seq, phase, role, provider, model, "
            "input_tokens, output_tokens, cost_usd, latency_ms, scripted) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            [
                (req.task_id, i, c.phase, c.role, c.provider, c.model, c.input_tokens,
                 c.output_tokens, c.cost_usd, c.latency_ms, c.scripted)
                for i, c in enumerate(req.trace)
            ],
        )  # fmt: skip


async def write_back(ingestor: Ingestor, req: WriteBackRequest) -> int | None:
    """Store the task and its answer chunk; returns the answer's document id (None: dup).
    Model output (and a prompt from before the API refused them) may hold NUL or lone
    surrogates, which Postgres and UTF-8 refuse: cleaned, so the write-back is not lost."""
    req = req.model_copy(
        update={
            "prompt": clean_text(req.prompt),
            "plan": clean_text(req.plan),
            "answer": clean_text(req.answer),
        }
    )
    [embedding] = await ingestor.embedder.embed([req.prompt])
    async with ingestor.pool.acquire() as conn:
        await store_task(conn, req, embedding)
    if not req.answer.strip():
        return None
    body = f"Task: {req.prompt}\n\nAnswer:\n{req.answer}"
    chunks = chunk_text(body, ".md", ingestor.cfg.chunk_chars)
    doc = NewDocument(
        tenant=req.tenant,
        collection=ANSWERS,
        source=f"task:{req.task_id}",
        text=body,
        chunks=chunks,
        title=req.prompt[:200],
        kind="answer",
        verified=req.verified,
        task_id=req.task_id,
    )
    return await ingestor.add_text(doc)


async def similar_tasks(
    pool: asyncpg.Pool,
    tenant: str,
    kind: str,
    embedding: Vectors,
    k: int,
    min_similarity: float = -1.0,
) -> list[PastTask]:
    """The ``k`` past tasks most like this one, none below ``min_similarity`` (cosine)."""
    vector = np.asarray(embedding, np.float32)
    async with pool.acquire() as conn:
        rows = await conn.fetch(_SIMILAR, vector, tenant, kind, k, min_similarity)
    return [
        PastTask(
            task_id=r["task_id"],
            prompt=r["prompt"],
            plan=r["plan"],
            status=r["status"],
            verified=r["verified"],
            tokens=r["tokens"],
            usd=r["usd"],
            similarity=float(r["similarity"]),
        )
        for r in rows
    ]


def estimate_budget(similar: list[PastTask]) -> tuple[int | None, float | None]:
    """Median tokens and USD of the similar tasks that succeeded (None when there are none)."""
    done = [t for t in similar if t.status == "succeeded"]
    if not done:
        return None, None
    return int(statistics.median(t.tokens for t in done)), statistics.median(t.usd for t in done)
