"""Hybrid retrieval: Okapi BM25 and vector top-k, fused, boosted, optionally reranked.

Both legs and the detail fetch run in one read-only REPEATABLE READ transaction, so a
search sees one snapshot: chunks and BM25 statistics that belong together, even while
ingestion commits around it. BM25 is computed in SQL from the statistics tables (see
docs/memory.md); ``ts_rank`` is not used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
import numpy as np

from activities.memory import fusion
from activities.memory.embedders import Vectors
from naestro.config.settings import MemoryConfig
from naestro.contracts.memory import Hit, SearchRequest

# The query's distinct lexemes (same parser and dictionaries as the chunks), their IDF
# from the per-(tenant, collection) statistics, and the BM25 sum over matching chunks.
_BM25 = """
WITH q AS (
    SELECT DISTINCT lexeme AS term FROM unnest(to_tsvector($1::regconfig, $2))
), corpus AS (
    SELECT sum(n_chunks)::float8 AS n, (sum(total_len) / nullif(sum(n_chunks), 0))::float8 AS avgdl
    FROM bm25_corpus WHERE {scope}
), idf AS (
    SELECT q.term, ln(1 + (corpus.n - d.df + 0.5) / (d.df + 0.5)) AS idf
    FROM q CROSS JOIN corpus CROSS JOIN LATERAL (
        SELECT coalesce(sum(df), 0)::float8 AS df FROM bm25_terms WHERE {scope} AND term = q.term
    ) d
), tsq AS (
    SELECT regexp_replace(plainto_tsquery($1::regconfig, $2)::text, '&|<[0-9-]+>', '|', 'g')
           ::tsquery AS query
)
SELECT c.id, sum(idf.idf * u.tf * ($3::float8 + 1)
                 / (u.tf + $3::float8 * (1 - $4::float8 + $4::float8 * c.len / corpus.avgdl)))
       AS score
FROM chunks c
CROSS JOIN tsq CROSS JOIN corpus
JOIN idf ON c.tf ? idf.term
CROSS JOIN LATERAL (SELECT (c.tf ->> idf.term)::float8 AS tf) u
WHERE {filters} AND c.tsv @@ tsq.query
GROUP BY c.id
ORDER BY score DESC, c.id
LIMIT $5
"""

_VECTOR = """
SELECT id, 1 - (embedding <=> $1) AS score FROM chunks c
WHERE {filters}
ORDER BY {order}
LIMIT $2
"""

_DETAILS = """
SELECT c.id, c.document_id, c.collection, c.kind, c.source, c.heading, c.content,
       c.verified, c.task_id, c.created_at,
       count(f.id) FILTER (WHERE f.verdict = 'approve') AS approvals,
       count(f.id) FILTER (WHERE f.verdict = 'reject') AS rejections
FROM chunks c
LEFT JOIN feedback f ON f.tenant = c.tenant
     AND (f.chunk_id = c.id OR (c.task_id IS NOT NULL AND f.task_id = c.task_id))
WHERE c.id = ANY($1::bigint[]) AND c.tenant = $2
GROUP BY c.id, c.document_id, c.collection, c.kind, c.source, c.heading, c.content,
         c.verified, c.task_id, c.created_at
"""


@dataclass
class _Filters:
    """A WHERE clause over chunks (alias c) and its parameters, numbered from ``first``."""

    sql: str
    scope: str
    args: list[Any]


def _filters(req: SearchRequest, first: int) -> _Filters:
    args: list[Any] = [req.tenant]
    where = [f"c.tenant = ${first}"]
    scope = [f"tenant = ${first}"]
    if req.collections:
        args.append(req.collections)
        where.append(f"c.collection = ANY(${first + len(args) - 1}::text[])")
        scope.append(f"collection = ANY(${first + len(args) - 1}::text[])")
    if req.since is not None:
        args.append(req.since)
        where.append(f"c.created_at >= ${first + len(args) - 1}")
    if req.until is not None:
        args.append(req.until)
        where.append(f"c.created_at < ${first + len(args) - 1}")
    return _Filters(" AND ".join(where), " AND ".join(scope), args)


async def bm25_leg(
    conn: asyncpg.Connection, cfg: MemoryConfig, req: SearchRequest, k: int
) -> list[tuple[int, float]]:
    f = _filters(req, 6)
    sql = _BM25.format(scope=f.scope, filters=f.sql)
    rows = await conn.fetch(sql, cfg.text_config, req.query, cfg.bm25_k1, cfg.bm25_b, k, *f.args)
    return [(r["id"], float(r["score"])) for r in rows]


async def vector_leg(
    conn: asyncpg.Connection,
    cfg: MemoryConfig,
    req: SearchRequest,
    query: Vectors,
    k: int,
    *,
    exact: bool = False,
) -> list[tuple[int, float]]:
    """Approximate (index) top-k; exact when asked or when filters left the index short."""
    f = _filters(req, 3)
    vec = np.asarray(query, dtype=np.float32)
    order = "(embedding <=> $1) + 0" if exact else "embedding <=> $1"
    sql = _VECTOR.format(filters=f.sql, order=order)
    await conn.execute(f"SET LOCAL hnsw.ef_search = {max(cfg.hnsw_ef_search, k)}")
    await conn.execute(f"SET LOCAL ivfflat.probes = {cfg.ivfflat_probes}")
    rows = await conn.fetch(sql, vec, k, *f.args)
    if not exact and len(rows) < k:
        # HNSW/ivfflat filter after the graph walk; a small tenant or time window can leave
        # fewer than k. An exact scan over the filtered rows is then both right and cheap.
        return await vector_leg(conn, cfg, req, query, k, exact=True)
    return [(r["id"], float(r["score"])) for r in rows]


def _fuse(
    cfg: MemoryConfig, req: SearchRequest, bm25: fusion.Ranked, vec: fusion.Ranked
) -> list[fusion.Fused]:
    if req.legs == "bm25":
        return fusion.weighted(bm25, [], 0.0) if bm25 else []
    if req.legs == "vector":
        return fusion.weighted([], vec, 1.0) if vec else []
    if (req.fusion or cfg.fusion) == "weighted":
        return fusion.weighted(bm25, vec, cfg.vector_weight)
    return fusion.rrf(bm25, vec, cfg.rrf_k)


def _hit(row: asyncpg.Record, f: fusion.Fused, cfg: MemoryConfig) -> Hit:
    extra = fusion.boost(
        row["approvals"],
        row["rejections"],
        row["verified"] if row["kind"] == "answer" else None,
        per_use=cfg.feedback_boost,
        cap=cfg.feedback_boost_cap,
        verified_boost=cfg.verified_boost,
    )
    return Hit(
        chunk_id=row["id"],
        document_id=row["document_id"],
        collection=row["collection"],
        kind=row["kind"],
        source=row["source"],
        heading=row["heading"],
        content=row["content"],
        score=f.score + extra,
        bm25=f.bm25,
        bm25_rank=f.bm25_rank,
        vector=f.vector,
        vector_rank=f.vector_rank,
        boost=extra,
        verified=row["verified"],
        task_id=row["task_id"],
        created_at=row["created_at"],
    )


async def search(
    pool: asyncpg.Pool, cfg: MemoryConfig, req: SearchRequest, query: Vectors | None
) -> list[Hit]:
    """Fused, boosted hits, best first (at most ``cfg.candidates`` before the cut to k)."""
    k = max(cfg.candidates, req.k)
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        bm25 = await bm25_leg(conn, cfg, req, k) if req.legs != "vector" else []
        vec: fusion.Ranked = []
        if req.legs != "bm25" and query is not None:
            vec = await vector_leg(conn, cfg, req, query, k)
        fused = _fuse(cfg, req, bm25, vec)
        rows = await conn.fetch(_DETAILS, [f.chunk_id for f in fused], req.tenant)
    by_id = {r["id"]: r for r in rows}
    hits = [_hit(by_id[f.chunk_id], f, cfg) for f in fused if f.chunk_id in by_id]
    return sorted(hits, key=lambda h: (-h.score, h.chunk_id))
