"""Retrieval quality and speed of Naestro's memory on a BEIR-format dataset.

Both sides of every comparison run here, on one embedded Postgres + pgvector:

1. nDCG@10 of BM25 only, vector only (all-MiniLM-L6-v2, local) and hybrid (RRF, or
   --fusion weighted) over --corpus/--queries/--qrels, one document per chunk (BEIR style),
   beside the published SciFact figures.
2. p50/p95 latency of a hybrid search at --chunks chunks (default 100k). The extra chunks
   are SYNTHETIC: texts are 3 random sentences of the corpus, vectors the mean of those
   sentences' documents' embeddings plus a little Gaussian noise (embedding a million
   texts with numpy on 2 cores would take a day). --chunks 1000000 is the scale run.
3. HNSW recall@10 against an exact scan over the same chunks, with both latencies.

Embeddings are cached in .naestro/cache/ (the first SciFact run embeds 5k abstracts).

    .venv/bin/python bench/retrieval.py --corpus ../shared/data/scifact/corpus.jsonl \\
        --queries ../shared/data/scifact/queries.jsonl \\
        --qrels ../shared/data/scifact/qrels/train.tsv
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path

import asyncpg
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from activities.memory import retrieval
from activities.memory.chunking import Chunk
from activities.memory.store import NewDocument, add_document
from bench.embed_cache import embed_cached
from naestro import db
from naestro.config.settings import MemoryConfig
from naestro.contracts.memory import SearchRequest

PUBLISHED = (
    "published SciFact (BEIR test split): bm25 0.665-0.679, all-MiniLM-L6-v2 0.645, rrf ~0.72"
)


def load_beir(corpus: Path, queries: Path, qrels: Path) -> tuple[dict, dict, dict]:
    docs = {d["_id"]: d for d in map(json.loads, corpus.read_text().splitlines())}
    qs = {q["_id"]: q["text"] for q in map(json.loads, queries.read_text().splitlines())}
    rel: dict[str, dict[str, int]] = defaultdict(dict)
    for line in qrels.read_text().splitlines()[1:]:
        qid, did, score = line.split("\t")
        if int(score) > 0 and did in docs:
            rel[qid][did] = int(score)
    return docs, {q: qs[q] for q in rel if q in qs}, rel


def ndcg_at_10(ranked: list[str], rel: dict[str, int]) -> float:
    dcg = sum(rel.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:10]))
    ideal = sorted(rel.values(), reverse=True)[:10]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


async def _bulk_load(
    pool: asyncpg.Pool, docs: list[NewDocument], vecs: np.ndarray, cfg: MemoryConfig
) -> None:
    """Load without the vector index (then build it once): far faster than per-row HNSW.
    Each document goes through the product's own write (chunks, statistics, postings)."""
    async with pool.acquire() as conn:
        await conn.execute("DROP INDEX IF EXISTS chunks_embedding")
        await conn.execute("DELETE FROM memory_meta WHERE key = 'chunks_vector_index'")
    sem = asyncio.Semaphore(4)
    offsets = np.cumsum([0] + [len(d.chunks) for d in docs])

    async def one(i: int) -> None:
        async with sem, pool.acquire() as conn:
            await add_document(conn, docs[i], vecs[offsets[i] : offsets[i + 1]], cfg)
        if i and i % 1000 == 0:
            print(f"# loaded {offsets[i]} chunks", file=sys.stderr, flush=True)

    await asyncio.gather(*(one(i) for i in range(len(docs))))


async def _build_index(pool: asyncpg.Pool, cfg: MemoryConfig) -> tuple[str, float]:
    async with pool.acquire() as conn:
        # HNSW builds fast while its graph fits in memory (1M x 384 floats: about 2.5 GB).
        await conn.execute("SET maintenance_work_mem = '4GB'")
        start = time.perf_counter()
        kind = await db.ensure_vector_index(conn, cfg, rebuild=True)
        await conn.execute("ANALYZE")
        return kind, time.perf_counter() - start


async def quality(
    pool: asyncpg.Pool, cfg: MemoryConfig, args: argparse.Namespace, kept: asyncpg.Record | None
) -> dict:
    docs, queries, rel = load_beir(Path(args.corpus), Path(args.queries), Path(args.qrels))
    ids = list(docs)
    texts = [f"{docs[d].get('title', '')} {docs[d]['text']}".strip() for d in ids]
    print(f"# embedding {len(texts)} documents (cached after the first run)", file=sys.stderr)
    dvecs = embed_cached(texts)
    new = [NewDocument("beir", "corpus", d, texts[i], [Chunk(docs[d].get("title", ""),
                       docs[d]["text"])]) for i, d in enumerate(ids)]  # fmt: skip
    if kept is None:
        await _bulk_load(pool, new, dvecs, cfg)
        await _build_index(pool, cfg)
    qids = list(queries)
    qvecs = embed_cached([queries[q] for q in qids])
    scores: dict[str, list[float]] = defaultdict(list)
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT id, source FROM chunks WHERE tenant = 'beir'")
    chunk_source = {r["id"]: r["source"] for r in rows}
    other = "rrf" if args.fusion == "weighted" else "weighted"
    runs = [("bm25", "bm25", None), ("vector", "vector", None), ("hybrid", "hybrid", args.fusion),
            (f"hybrid_{other}", "hybrid", other)]  # fmt: skip
    judged = qids if args.quality_queries is None else qids[: args.quality_queries]
    for qid, qvec in zip(judged, qvecs, strict=False):
        for name, legs, fusion in runs:
            req = SearchRequest.model_validate(
                {"query": queries[qid], "tenant": "beir", "k": 10, "legs": legs,
                 "fusion": fusion}
            )  # fmt: skip
            hits = await retrieval.search(pool, cfg, req, qvec)
            ranked = [chunk_source[h.chunk_id] for h in hits[:10]]
            scores[name].append(ndcg_at_10(ranked, rel[qid]))
    return {legs: statistics.fmean(v) for legs, v in scores.items()} | {
        "_dvecs": dvecs,
        "_texts": texts,
        "_qtexts": [queries[q] for q in qids],
        "_qvecs": qvecs,
    }


def synthetic(
    texts: list[str], dvecs: np.ndarray, n: int, seed: int = 7
) -> tuple[list[NewDocument], np.ndarray]:
    """n chunks of 3 random corpus sentences; a chunk's vector is the mean of its sentences'
    documents' embeddings plus a little noise: it matches its text, and a million of them
    spread like real embeddings instead of piling up on the corpus's 5k points."""
    rng = np.random.default_rng(seed)
    split = [(i, s) for i, t in enumerate(texts) for s in re.split(r"(?<=[.!?])\s+", t)]
    source = np.array([i for i, s in split if len(s) > 20])
    sentences = [s for _, s in split if len(s) > 20]
    picks = rng.integers(0, len(sentences), size=(n, 3))
    vecs = np.empty((n, dvecs.shape[1]), dtype=np.float32)
    for lo in range(0, n, 100_000):  # in slices: n x 3 x dim at once is gigabytes
        part = dvecs[source[picks[lo : lo + 100_000]]].sum(axis=1)
        part += rng.normal(0, 0.005, size=part.shape).astype(np.float32)
        vecs[lo : lo + 100_000] = part / np.linalg.norm(part, axis=1, keepdims=True)
    chunks = [Chunk("", " ".join(sentences[j] for j in row)) for row in picks]
    per_doc = 100
    docs = [
        NewDocument("synthetic", "load", f"s{i}", f"synthetic-{i}", chunks[s : s + per_doc])
        for i, s in enumerate(range(0, n, per_doc))
    ]
    return docs, vecs.astype(np.float32)


def pct(values: list[float], p: float) -> float:
    return float(np.percentile(np.array(values), p))


async def _kept(url: str) -> asyncpg.Record | None:
    """The figures of a load kept from an earlier run (--keep), if this database has one."""
    conn = await asyncpg.connect(url)
    try:
        if await conn.fetchval("SELECT to_regclass('bench_load')") is None:
            return None
        return await conn.fetchrow("SELECT load_s, build_s, kind FROM bench_load")
    finally:
        await conn.close()


async def speed(
    pool: asyncpg.Pool,
    cfg: MemoryConfig,
    args: argparse.Namespace,
    q: dict,
    kept: asyncpg.Record | None,
) -> dict:
    if kept is not None:
        load_s, build_s, kind = kept["load_s"], kept["build_s"], kept["kind"]
        print(
            f"# {args.chunks} chunks kept from an earlier run (its load figures)", file=sys.stderr
        )
    else:
        docs, vecs = synthetic(q["_texts"], q["_dvecs"], args.chunks)
        start = time.perf_counter()
        await _bulk_load(pool, docs, vecs, cfg)
        load_s = time.perf_counter() - start
        async with pool.acquire() as conn:
            await conn.execute("VACUUM ANALYZE bm25_postings")
        kind, build_s = await _build_index(pool, cfg)
        print(f"# loaded {args.chunks} synthetic chunks in {load_s:.0f}s; {kind} built in "
              f"{build_s:.0f}s", file=sys.stderr)  # fmt: skip
        if args.keep:
            async with pool.acquire() as conn:
                await conn.execute(
                    "CREATE TABLE bench_load AS SELECT $1::float8 AS load_s, $2::float8 AS build_s,"
                    " $3::text AS kind",
                    load_s,
                    build_s,
                    kind,
                )
    qtexts, qvecs = q["_qtexts"][: args.latency_queries], q["_qvecs"][: args.latency_queries]
    lat: list[float] = []
    vector_ms: list[float] = []
    for text, qvec in zip(qtexts, qvecs, strict=True):
        req = SearchRequest(query=text, tenant="synthetic", k=10)
        t0 = time.perf_counter()
        await retrieval.search(pool, cfg, req, qvec)
        lat.append((time.perf_counter() - t0) * 1000)
        async with pool.acquire() as conn, conn.transaction(readonly=True):
            t0 = time.perf_counter()
            await retrieval.vector_leg(conn, cfg, req, qvec, cfg.candidates)
            vector_ms.append((time.perf_counter() - t0) * 1000)
    sides = await _bm25_sides(pool, cfg, qtexts, args.full_bm25_queries)
    approx_ms, exact_ms, recalls = [], [], []
    sql = "SELECT id FROM chunks ORDER BY {} LIMIT 10"
    async with pool.acquire() as conn:
        for qvec in qvecs[: args.recall_queries]:
            async with conn.transaction():
                await conn.execute(f"SET LOCAL hnsw.ef_search = {cfg.hnsw_ef_search}")
                t0 = time.perf_counter()
                approx = await conn.fetch(sql.format("embedding <=> $1"), qvec)
                t1 = time.perf_counter()
                exact = await conn.fetch(sql.format("(embedding <=> $1) + 0"), qvec)
                t2 = time.perf_counter()
            approx_ms.append((t1 - t0) * 1000)
            exact_ms.append((t2 - t1) * 1000)
            truth = {r["id"] for r in exact}
            recalls.append(len(truth & {r["id"] for r in approx}) / len(truth))
    return {
        "p50": pct(lat, 50), "p95": pct(lat, 95), "recall": statistics.fmean(recalls),
        "hnsw_ms": pct(approx_ms, 50), "exact_ms": pct(exact_ms, 50), "index": kind,
        "load_rate": args.chunks / load_s, "build_s": build_s, "vector_p95": pct(vector_ms, 95),
    } | sides  # fmt: skip


async def _bm25_sides(
    pool: asyncpg.Pool, cfg: MemoryConfig, queries: list[str], full_n: int
) -> dict[str, float]:
    """The BM25 leg as the product runs it (impact-ordered postings) on every query, and the
    full scoring of every matching chunk on the first ``full_n``: latencies, how often the
    pruned answer was proven exact, and how much of the full top 10 it returned."""
    k = cfg.candidates
    pruned_ms, full_ms, proven, overlap = [], [], [], []
    async with pool.acquire() as conn:
        for i, text in enumerate(queries):
            req = SearchRequest(query=text, tenant="synthetic", k=10)
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                t0 = time.perf_counter()
                got = await retrieval.bm25_pruned(conn, cfg, req, k)
                pruned_ms.append((time.perf_counter() - t0) * 1000)
                assert got is not None
                proven.append(got.exact)
                if i < full_n:
                    t0 = time.perf_counter()
                    full = await retrieval.bm25_full(conn, cfg, req, k)
                    full_ms.append((time.perf_counter() - t0) * 1000)
                    # By score, not id: chunks tied at the 10th score are equally right.
                    cut = full[9][1] - 1e-9 if len(full) >= 10 else -math.inf
                    want = {c for c, s in full if s >= cut}
                    hit = len(want & {c for c, _ in got.hits[:10]})
                    overlap.append(min(hit, 10) / min(10, len(full)) if full else 1.0)
    n = len(full_ms)
    return {
        "bm25_p95": pct(pruned_ms, 95),
        "bm25_pruned_p95_same": pct(pruned_ms[:n], 95),
        "bm25_full_p95": pct(full_ms, 95),
        "proven": statistics.fmean(proven),
        "overlap": statistics.fmean(overlap),
    }


async def main(args: argparse.Namespace) -> None:
    # The product's HNSW build cap (memory.hnsw_build_cap_seconds, 30 min): ivfflat past it.
    cfg = MemoryConfig(enabled=True, fusion=args.fusion)
    print(f"# fusion {cfg.fusion} (vector_weight {cfg.vector_weight}), rrf_k {cfg.rrf_k}, "
          f"candidates {cfg.candidates}, bm25 k1 {cfg.bm25_k1} b {cfg.bm25_b}")  # fmt: skip
    url = args.database_url
    if not url:  # our child: it stops when the benchmark ends, even killed by a timeout
        from naestro.pgembed import embedded_postgres

        keep = Path(args.keep) if args.keep else None
        pg_dir = keep or Path(tempfile.mkdtemp(prefix="naestro-bench-pg-"))
        url = str(embedded_postgres(pg_dir, delete=keep is None).get_uri())
    admin = await asyncpg.connect(url)
    # --keep: one database a scale, loaded once, measured again by later runs.
    name = f"bench_keep_{args.chunks}" if args.keep else f"bench_{uuid.uuid4().hex[:8]}"
    bench_url = re.sub(r"/[^/?]*(\?|$)", rf"/{name}\1", url.split("://", 1)[1], count=1)
    bench_url = url.split("://", 1)[0] + "://" + bench_url
    there = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
    kept = await _kept(bench_url) if there else None
    if there and kept is None:  # a load cut short: start it again
        await admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
    if kept is None:
        await admin.execute(f"CREATE DATABASE {name}")
    try:
        await db.migrate(bench_url, cfg)
        pool = await db.create_pool(bench_url, 6)
        q = await quality(pool, cfg, args, kept)
        s = await speed(pool, cfg, args, q, kept) if args.chunks else None
        await pool.close()
    finally:
        if not args.keep:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()
    other = "rrf" if args.fusion == "weighted" else "weighted"
    judged = "bm25" in q
    if judged:
        print(f"bm25 ndcg@10 {q['bm25']:.3f}")
        print(f"vector ndcg@10 {q['vector']:.3f}")
        print(f"hybrid ndcg@10 {q['hybrid']:.3f}")
        print(f"hybrid_{other} ndcg@10 {q[f'hybrid_{other}']:.3f}")
        print(f"# {PUBLISHED}")
    if s is not None:
        n = f"{args.chunks // 1000}k"
        print(f"ingest_chunks_per_s@{n} {s['load_rate']:.0f}")
        print(f"{s['index']}_build_s@{n} {s['build_s']:.0f}")
        print(f"bm25_full_latency_p95_ms@{n} {s['bm25_full_p95']:.1f}")
        print(f"bm25_pruned_latency_p95_ms@{n} {s['bm25_pruned_p95_same']:.1f}")
        print(f"bm25_pruned_speedup@{n} {s['bm25_full_p95'] / s['bm25_pruned_p95_same']:.1f}")
        print(f"bm25_pruned_proven_exact@{n} {s['proven']:.3f}")
        print(f"bm25_pruned_top10_recall_vs_full@{n} {s['overlap']:.3f}")
        print(f"bm25_latency_p95_ms@{n} {s['bm25_p95']:.1f}")
        print(f"vector_leg_latency_p95_ms@{n} {s['vector_p95']:.1f}")
        print(f"hybrid_latency_p50_ms@{n} {s['p50']:.1f}")
        print(f"{s['index']}_recall@10 {s['recall']:.3f}")
        print(f"{s['index']}_latency_p50_ms@{n} {s['hnsw_ms']:.1f}")
        print(f"exact_scan_latency_p50_ms@{n} {s['exact_ms']:.1f}")
    if judged:
        print(f"hybrid_gain_over_best_leg {q['hybrid'] - max(q['bm25'], q['vector']):+.3f}")
    if s is not None:  # the headline: hybrid search's p95 at this scale
        print(f"hybrid_latency_p95_ms@{n} {s['p95']:.1f}")


def parse() -> argparse.Namespace:
    data = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "scifact"
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", default=str(data / "corpus.jsonl"))
    p.add_argument("--queries", default=str(data / "queries.jsonl"))
    p.add_argument("--qrels", default=str(data / "qrels" / "train.tsv"))
    p.add_argument("--fusion", choices=["rrf", "weighted"], default="weighted")
    p.add_argument("--chunks", type=int, default=100_000, help="the speed part's scale; 0 skips it")
    p.add_argument(
        "--full-bm25-queries",
        type=int,
        default=20,
        help="queries also scored the unpruned way (slow at scale), for the comparison",
    )
    p.add_argument(
        "--quality-queries", type=int, default=None, help="judge only the first N (0: none)"
    )
    p.add_argument("--latency-queries", type=int, default=200)
    p.add_argument("--recall-queries", type=int, default=100)
    p.add_argument("--database-url", default=None, help="default: a throwaway pgserver")
    p.add_argument(
        "--keep",
        metavar="DIR",
        default=None,
        help="an embedded Postgres kept in DIR: the first run loads and indexes the chunks, "
        "later runs with the same --chunks measure them again without loading",
    )
    return p.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse()))
