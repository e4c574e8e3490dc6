"""Hybrid retrieval: Okapi BM25 and vector top-k, fused, boosted, optionally reranked.

Both legs and the detail fetch read one REPEATABLE READ snapshot (the vector leg, run
beside BM25 on a second connection, imports the first's), so a search sees chunks and BM25
statistics that belong together, even while ingestion commits around it. BM25 is computed
in SQL from the statistics tables (see docs/memory.md); ``ts_rank`` is not used.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import Any

import asyncpg
import numpy as np

from activities.memory import fusion
from activities.memory.bm25 import term_part
from activities.memory.embedders import Vectors
from naestro.config.settings import MemoryConfig
from naestro.contracts.memory import Hit, SearchRequest

# The query's distinct lexemes (same parser and dictionaries as the chunks), their IDF
# from the per-(tenant, collection) statistics, and the BM25 sum over matching chunks:
# every chunk holding any query term is scored. The exact fallback of the pruned search.
_BM25 = (
    """
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
SELECT c.id, sum(idf.idf * """
    + term_part("u.tf", "c.len", "$3::float8", "$4::float8", "corpus.avgdl")
    + """)
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
)

# The pruned search's inputs: each query lexeme with its df over the scope and its term
# ids (one per collection), the corpus size and avgdl, and whether every scope's postings
# were written with today's k1 and b (then the smallest reference avgdl bounds the drift).
_TERMS = """
WITH q AS (
    SELECT DISTINCT lexeme AS term FROM unnest(to_tsvector($1::regconfig, $2))
)
SELECT q.term, coalesce(sum(b.df), 0)::float8 AS df,
       coalesce(array_agg(b.id) FILTER (WHERE b.id IS NOT NULL), '{{}}') AS ids
FROM q LEFT JOIN bm25_terms b ON {scope} AND b.term = q.term
GROUP BY q.term
"""
_CORPUS = """
SELECT sum(n_chunks)::float8 AS n, (sum(total_len) / nullif(sum(n_chunks), 0))::float8 AS avgdl,
       min(ref_avgdl) FILTER (WHERE n_chunks > 0) AS ref_avgdl,
       coalesce(bool_and(ref_k1 = $1 AND ref_b = $2) FILTER (WHERE n_chunks > 0), true) AS same
FROM bm25_corpus WHERE {scope}
"""

# One round over the postings alone (an index-only walk, chunks are not read): the first
# postings of each term id ($4: how many, one a term id), best impact first, each worth
# idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avgdl)) with today's statistics. A
# chunk's upper bound is the sum over the postings read plus, for each term not read for
# it, that term's unread bound ($3: idf * best unread impact * drift; $9: their sum, the
# bound of a chunk none of whose postings were read). Returns the $8 + 1 best chunks by
# upper bound and their bounds, best first.
_ROUND = (
    """
WITH t AS (
    SELECT * FROM unnest($1::bigint[], $2::float8[], $3::float8[], $4::int[])
        AS t(id, idf, unread, depth)
), p AS (
    SELECT p.chunk_id, t.unread,
           t.idf * """
    + term_part("p.tf", "p.len", "$5::float8", "$6::float8", "$7::float8")
    + """ AS s
    FROM t CROSS JOIN LATERAL (
        SELECT chunk_id, tf, len FROM bm25_postings WHERE term_id = t.id
        ORDER BY impact DESC, chunk_id LIMIT t.depth
    ) p
), c AS (
    SELECT chunk_id, sum(s) + $9::float8 - sum(unread) AS hi FROM p GROUP BY chunk_id
), top AS (
    SELECT chunk_id, hi FROM c ORDER BY hi DESC, chunk_id LIMIT $8::int + 1
)
SELECT coalesce(array_agg(chunk_id ORDER BY hi DESC, chunk_id), '{}') AS ids,
       coalesce(array_agg(hi ORDER BY hi DESC, chunk_id), '{}') AS his
FROM top
"""
)

# Exact scores of given chunks (the top of the accumulated ones), over all query terms.
_EXACT = (
    """
WITH qt AS (
    SELECT * FROM unnest($1::text[], $2::float8[]) AS qt(term, idf)
)
SELECT c.id, sum(qt.idf * """
    + term_part("u.tf", "c.len", "$4::float8", "$5::float8", "$6::float8")
    + """)
       AS score
FROM chunks c
JOIN qt ON c.tf ? qt.term
CROSS JOIN LATERAL (SELECT (c.tf ->> qt.term)::float8 AS tf) u
WHERE c.id = ANY($3::bigint[]) AND c.tenant = $7
GROUP BY c.id
"""
)

# The best impact each term id has beyond the postings read ($2: how many, one a term id;
# none: all were read).
_UNREAD = """
SELECT t.id, f.impact::float8 AS impact
FROM unnest($1::bigint[], $2::int[]) AS t(id, depth) CROSS JOIN LATERAL (
    SELECT impact FROM bm25_postings WHERE term_id = t.id
    ORDER BY impact DESC, chunk_id OFFSET t.depth LIMIT 1
) f
"""

# Postings read a term in the first round and the growth each round after; a term with
# more postings than that reads fewer, in proportion to its idf against the query's rarest
# term's (its postings are worth at most idf x (k1 + 1)), but never under 1/FLOOR as many.
# Past memory.bm25_max_depth (a query of only very common words, whose heads never separate
# the top k from the rest) the answer is the best of what was read, rescored exactly:
# approximate.
FIRST_DEPTH = 2048
GROWTH = 4
FLOOR = 8
RESCORED = 10  # each round scores the best RESCORED * k chunks by upper bound exactly
# A query with more terms than this longer than the first round reads starts at the
# maximum depth (one round): at a million chunks 167 of 200 SciFact claims had more, and
# the first round proved 3 of them; the other 164 read the second round anyway.
LONG_TERMS = 4
# How long a hybrid search waits for a second connection to run its legs side by side.
SECOND_WAIT_S = 0.05


@dataclass
class Pruned:
    """A pruned BM25 top-k: (chunk id, exact score), best first; ``exact``: provably the
    true top k (else the best of the postings read within the maximum depth); ``depth``:
    the round's depth (what a term reads at most)."""

    hits: list[tuple[int, float]]
    exact: bool
    depth: int


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
    scope: str  # the tenant and collections alone (the statistics tables' columns)
    args: list[Any]
    scope_args: list[Any]  # the parameters the scope uses (the first of args)


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
    return _Filters(" AND ".join(where), " AND ".join(scope), args, args[: len(scope)])


async def bm25_leg(
    conn: asyncpg.Connection, cfg: MemoryConfig, req: SearchRequest, k: int
) -> list[tuple[int, float]]:
    """BM25 top-k: over the impact-ordered postings when they can answer, else scoring every
    matching chunk."""
    pruned = await bm25_pruned(conn, cfg, req, k)
    if pruned is not None:
        return pruned.hits
    return await bm25_full(conn, cfg, req, k)


async def bm25_full(
    conn: asyncpg.Connection, cfg: MemoryConfig, req: SearchRequest, k: int
) -> list[tuple[int, float]]:
    """BM25 top-k scoring every chunk that holds any query term."""
    f = _filters(req, 6)
    sql = _BM25.format(scope=f.scope, filters=f.sql)
    rows = await conn.fetch(sql, cfg.text_config, req.query, cfg.bm25_k1, cfg.bm25_b, k, *f.args)
    return [(r["id"], float(r["score"])) for r in rows]


async def bm25_pruned(
    conn: asyncpg.Connection,
    cfg: MemoryConfig,
    req: SearchRequest,
    k: int,
    *,
    depth: int = FIRST_DEPTH,
    max_depth: int | None = None,
) -> Pruned | None:
    """Score-at-a-time over each query term's postings, best impact first, with a proof.

    Each round reads the first ``depth`` postings of each query term (a list no longer is
    read whole; of a longer one, fewer in proportion to its idf against the rarest term's,
    at least 1/FLOOR as many) and accumulates each chunk's upper bound (see _ROUND): an
    unread posting of a term is worth at most its best unread impact, times idf, times
    max(1, avgdl / reference avgdl) (a chunk's term part grows with avgdl by no more than
    that). The RESCORED * k best by upper bound are scored exactly (Fagin's combined
    algorithm); when their k-th score reaches every other chunk's upper bound, and that of
    a chunk never read, their top k is the top k. Otherwise read ``GROWTH`` times deeper,
    up to ``max_depth`` (default ``memory.bm25_max_depth``), then answer with the best
    scored so far (Pruned.exact False). None: the postings cannot answer (written with
    another k1 or b; or a time window, which postings do not carry).
    """
    if req.since is not None or req.until is not None:
        return None
    max_depth = max_depth or cfg.bm25_max_depth
    depth = min(depth, max_depth)
    scope = _filters(req, 3)
    args = scope.scope_args
    corpus = await conn.fetchrow(_CORPUS.format(scope=scope.scope), cfg.bm25_k1, cfg.bm25_b, *args)
    if not corpus["n"]:  # an aggregate: always one row
        return Pruned([], True, 0)
    if not corpus["same"] or corpus["ref_avgdl"] is None:
        return None
    n, avgdl = float(corpus["n"]), float(corpus["avgdl"])
    # (1 + 1e-6): impacts are stored as float4, rounded either way.
    drift = max(1.0, avgdl / float(corpus["ref_avgdl"])) * (1 + 1e-6)
    terms = await conn.fetch(_TERMS.format(scope=scope.scope), cfg.text_config, req.query, *args)
    names = [r["term"] for r in terms]
    idfs = [math.log(1 + (n - r["df"] + 0.5) / (r["df"] + 0.5)) for r in terms]
    ids = [i for r in terms for i in r["ids"]]
    idf_of = [idfs[j] for j, r in enumerate(terms) for _ in r["ids"]]
    df_of = [r["df"] for r in terms for _ in r["ids"]]
    owner = [j for j, r in enumerate(terms) for _ in r["ids"]]
    if not ids:
        return Pruned([], True, 0)
    if sum(r["df"] > depth for r in terms) > LONG_TERMS:
        depth = max_depth  # the first round could not prove it: one round
    hits: list[tuple[int, float]] = []
    top_idf = max(idf_of)  # of the terms with postings
    while True:
        # A term's postings are worth at most idf x (k1 + 1): past ``depth`` postings, the
        # commoner the term, the fewer read. A list no longer than ``depth`` is read whole.
        depths = [
            int(df) if df <= depth else max(depth // FLOOR, round(depth * idf / top_idf))
            for df, idf in zip(df_of, idf_of, strict=True)
        ]
        best = {r["id"]: r["impact"] for r in await conn.fetch(_UNREAD, ids, depths)}
        unread = [idf_of[i] * best.get(tid, 0.0) * drift for i, tid in enumerate(ids)]
        per_term = [0.0] * len(terms)
        for i, u in enumerate(unread):
            per_term[owner[i]] = max(per_term[owner[i]], u)
        never = sum(per_term)  # a chunk none of whose postings were read
        wide = RESCORED * k
        row = await conn.fetchrow(
            _ROUND, ids, idf_of, unread, depths, cfg.bm25_k1, cfg.bm25_b, avgdl, wide, never
        )
        # The best by upper bound, scored exactly; every other chunk is worth at most the
        # next upper bound, or the bound of one never read.
        chosen, his = row["ids"][:wide], row["his"]
        rows = await conn.fetch(
            _EXACT, names, idfs, chosen, cfg.bm25_k1, cfg.bm25_b, avgdl, req.tenant
        )
        hits = sorted(((r["id"], float(r["score"])) for r in rows), key=lambda h: (-h[1], h[0]))
        rest = max(never, his[wide] if len(his) > wide else 0.0)
        # >=: a chunk outside can at best tie the k-th (ties may then be broken other than
        # by id, as the full scoring does; the scores are the same).
        exact = hits[k - 1][1] >= rest if len(hits) >= k else rest == 0.0
        if exact or depth >= max_depth:
            return Pruned(hits[:k], exact, depth)
        depth = min(depth * GROWTH, max_depth)


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


async def hybrid_legs(
    pool: asyncpg.Pool,
    conn: asyncpg.Connection,
    cfg: MemoryConfig,
    req: SearchRequest,
    query: Vectors,
    k: int,
) -> tuple[fusion.Ranked, fusion.Ranked]:
    """BM25 on ``conn`` while the vector leg runs on a second connection in the same
    snapshot (exported by ``conn``'s transaction): a search takes its slower leg's time,
    not both. With no connection free within SECOND_WAIT_S, one after the other on
    ``conn`` (waiting longer could deadlock searches that each hold one)."""
    try:
        second = await pool.acquire(timeout=SECOND_WAIT_S)
    except TimeoutError:
        return await bm25_leg(conn, cfg, req, k), await vector_leg(conn, cfg, req, query, k)
    try:
        snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
        async with second.transaction(isolation="repeatable_read", readonly=True):
            await second.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            async with asyncio.TaskGroup() as legs:
                bm25 = legs.create_task(bm25_leg(conn, cfg, req, k))
                vec = legs.create_task(vector_leg(second, cfg, req, query, k))
        return bm25.result(), vec.result()
    finally:
        await pool.release(second)


async def search(
    pool: asyncpg.Pool, cfg: MemoryConfig, req: SearchRequest, query: Vectors | None
) -> list[Hit]:
    """Fused, boosted hits, best first (at most ``cfg.candidates`` before the cut to k)."""
    k = max(cfg.candidates, req.k)
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        bm25: fusion.Ranked = []
        vec: fusion.Ranked = []
        if req.legs == "hybrid" and query is not None:
            bm25, vec = await hybrid_legs(pool, conn, cfg, req, query, k)
        elif req.legs != "vector":
            bm25 = await bm25_leg(conn, cfg, req, k)
        elif query is not None:
            vec = await vector_leg(conn, cfg, req, query, k)
        fused = _fuse(cfg, req, bm25, vec)
        rows = await conn.fetch(_DETAILS, [f.chunk_id for f in fused], req.tenant)
    by_id = {r["id"]: r for r in rows}
    hits = [_hit(by_id[f.chunk_id], f, cfg) for f in fused if f.chunk_id in by_id]
    return sorted(hits, key=lambda h: (-h.score, h.chunk_id))
