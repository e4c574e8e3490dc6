"""BM25 top-k over impact-ordered postings: the same answer as scoring every matching chunk,
proven exact while reading only the head of each term's postings, through deletes,
collection filters and a corpus whose average length drifts from the reference; a time
window or a k1/b change scores every matching chunk instead; a query of only the commonest
words, cut short, answers approximately and says so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import numpy as np
import pytest

from activities.memory import retrieval
from activities.memory.chunking import Chunk
from activities.memory.store import NewDocument, add_document, delete_document
from naestro import db
from naestro.config.settings import MemoryConfig
from naestro.contracts.memory import SearchRequest
from tests.memory.conftest import memory_config

# A Zipf-like vocabulary: the first words are in most chunks (long postings), the last few
# in a handful, so a query mixes terms that pruning must skip with ones it must read.
VOCAB = [f"w{i:03d}" for i in range(300)]
QUERIES = ["w000 w120 w250", "w002 w120 w180", "w299 w001 w150", "w010 w140 w200", "w100 w001"]
# Only the commonest words: no short head bounds the rest, the search reads deeper.
COMMON = "w000 w003 w004 w005"
START = datetime(2026, 1, 10, tzinfo=UTC)


def _texts(n: int, seed: int, words: tuple[int, int]) -> list[str]:
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, len(VOCAB) + 1)
    weights /= weights.sum()
    return [
        " ".join(rng.choice(VOCAB, size=int(rng.integers(*words)), p=weights)) for _ in range(n)
    ]


async def _load(
    conn: asyncpg.Connection, cfg: MemoryConfig, texts: list[str], collection: str = "c"
) -> list[int]:
    vec = np.ones((1, 384), dtype=np.float32)
    ids = []
    for i, text in enumerate(texts):
        at = START + timedelta(hours=i)
        doc = NewDocument("t1", collection, f"d{i}", text, [Chunk("", text)], created_at=at)
        doc_id = await add_document(conn, doc, vec, cfg)
        assert doc_id is not None
        ids.append(doc_id)
    return ids


async def _both(
    conn: asyncpg.Connection,
    cfg: MemoryConfig,
    req: SearchRequest,
    max_depth: int = 64,
) -> tuple[retrieval.Pruned | None, list[tuple[int, float]]]:
    """The pruned answer reading at most ``max_depth`` postings a term, 64 first (None: the
    postings cannot answer), and the full one."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        pruned = await retrieval.bm25_pruned(conn, cfg, req, 10, depth=64, max_depth=max_depth)
        full = await retrieval.bm25_full(conn, cfg, req, 10)
    return pruned, full


def _same(pruned: retrieval.Pruned | None, full: list[tuple[int, float]]) -> None:
    assert pruned is not None and pruned.exact
    assert [c for c, _ in pruned.hits] == [c for c, _ in full]
    assert [s for _, s in pruned.hits] == pytest.approx([s for _, s in full], rel=1e-9)


@pytest.fixture
def cfg() -> MemoryConfig:
    return memory_config(text_config="simple")


async def test_pruned_equals_full_while_reading_only_the_head(
    db_url: str, conn: asyncpg.Connection, cfg: MemoryConfig
) -> None:
    await _load(conn, cfg, _texts(900, 1, (8, 30)))
    longest = await conn.fetchval(
        "SELECT max(n) FROM (SELECT count(*) n FROM bm25_postings GROUP BY term_id) p"
    )
    assert longest > 4 * 64  # the common words' postings are longer than the first read
    for query in QUERIES:
        req = SearchRequest(query=query, tenant="t1", k=10)
        pruned, full = await _both(conn, cfg, req, 256)
        assert len(full) == 10
        _same(pruned, full)
        assert pruned is not None and pruned.depth < longest, query  # proven from the head
    req = SearchRequest(query=COMMON, tenant="t1", k=10)
    cut, _ = await _both(conn, cfg, req)
    assert cut is not None and not cut.exact and len(cut.hits) == 10
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        every = dict(await retrieval.bm25_full(conn, cfg, req, 10_000))
        deep = await retrieval.bm25_pruned(conn, cfg, req, 10)  # reads deeper: proven
        leg = await retrieval.bm25_leg(conn, cfg, req, 10)
    # Cut short, the answer is still scored exactly and sorted, just maybe not the top 10.
    assert [s for _, s in cut.hits] == pytest.approx([every[c] for c, _ in cut.hits], rel=1e-9)
    assert [s for _, s in cut.hits] == sorted((s for _, s in cut.hits), reverse=True)
    top = sorted(every.items(), key=lambda cs: (-cs[1], cs[0]))[:10]
    _same(deep, top)
    assert leg == deep.hits if deep else False


async def test_deletes_filters_and_collections(
    db_url: str, conn: asyncpg.Connection, cfg: MemoryConfig
) -> None:
    ids = await _load(conn, cfg, _texts(700, 2, (8, 30)))
    await _load(conn, cfg, _texts(200, 3, (8, 30)), collection="other")
    for doc_id in ids[::3]:  # a third of the documents, postings and all
        assert await delete_document(conn, doc_id)
    dead = await conn.fetchval(
        "SELECT count(*) FROM bm25_postings p WHERE NOT EXISTS "
        "(SELECT 1 FROM chunks c WHERE c.id = p.chunk_id)"
    )
    assert dead == 0
    window = {"since": START + timedelta(hours=100), "until": START + timedelta(hours=400)}
    for query in QUERIES:
        for extra in ({}, {"collections": ["c"]}, {"collections": ["other", "c"]}):
            req = SearchRequest.model_validate({"query": query, "tenant": "t1", "k": 10} | extra)
            pruned, full = await _both(conn, cfg, req, cfg.bm25_max_depth)
            _same(pruned, full)
        # Postings carry no time: a window is scored over every matching chunk in it.
        req = SearchRequest.model_validate({"query": query, "tenant": "t1", "k": 10} | window)
        pruned, full = await _both(conn, cfg, req)
        assert pruned is None
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            assert await retrieval.bm25_leg(conn, cfg, req, 10) == full


async def test_average_length_drifting_above_the_reference_stays_exact(
    db_url: str, conn: asyncpg.Connection, cfg: MemoryConfig
) -> None:
    await _load(conn, cfg, _texts(50, 4, (3, 6)))  # short first: a small reference avgdl
    await _load(conn, cfg, _texts(800, 5, (30, 60)))
    ref, avgdl = await conn.fetchrow(
        "SELECT ref_avgdl, total_len::float8 / n_chunks FROM bm25_corpus"
    )
    assert avgdl > 3 * ref
    for query in QUERIES:
        # The bound grows with avgdl / reference (9x here): it reads deeper, stays exact.
        req = SearchRequest(query=query, tenant="t1", k=10)
        pruned, full = await _both(conn, cfg, req, cfg.bm25_max_depth)
        _same(pruned, full)


async def test_other_k1_or_b_than_the_postings_scores_every_chunk(
    db_url: str, conn: asyncpg.Connection, cfg: MemoryConfig
) -> None:
    await _load(conn, cfg, _texts(400, 6, (8, 30)))
    changed = cfg.model_copy(update={"bm25_k1": 0.9, "bm25_b": 0.4})
    req = SearchRequest(query=QUERIES[0], tenant="t1", k=10)
    pruned, full = await _both(conn, changed, req)
    assert pruned is None
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        leg = await retrieval.bm25_leg(conn, changed, req, 10)
    assert leg == full


async def test_the_configured_depth_caps_the_read_and_long_queries_start_there(
    db_url: str, conn: asyncpg.Connection, cfg: MemoryConfig
) -> None:
    await _load(conn, cfg, _texts(900, 1, (8, 30)))
    capped = memory_config(bm25_max_depth=64)
    common = SearchRequest(query=COMMON, tenant="t1", k=10)
    # More than LONG_TERMS words each longer than the first round (64): one round, at the
    # cap, instead of 64 first; the answer is the one reading 64 first and then 256 gives.
    many = SearchRequest(query="w000 w001 w002 w003 w004 w005 w120", tenant="t1", k=10)
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        cut = await retrieval.bm25_pruned(conn, capped, common, 10)
        one = await retrieval.bm25_pruned(conn, cfg, many, 10, depth=64, max_depth=256)
        full = await retrieval.bm25_full(conn, cfg, many, 10)
    assert cut is not None and cut.depth == 64 and not cut.exact  # memory.bm25_max_depth
    assert one is not None and one.depth == 256
    assert one.exact or len({c for c, _ in one.hits} & {c for c, _ in full}) >= 8


async def test_another_tenants_postings_are_never_read(
    db_url: str, conn: asyncpg.Connection, cfg: MemoryConfig
) -> None:
    await _load(conn, cfg, _texts(300, 7, (8, 30)))
    req = SearchRequest(query=QUERIES[0], tenant="t2", k=10)
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        assert await retrieval.bm25_pruned(conn, cfg, req, 10) == retrieval.Pruned([], True, 0)
        assert await retrieval.bm25_leg(conn, cfg, req, 10) == []


async def test_migration_writes_postings_for_chunks_stored_before_it(
    db_url: str, conn: asyncpg.Connection
) -> None:
    """A database whose chunks predate 007: take its changes back, migrate again, and the
    backfilled postings answer as the full scoring does."""
    cfg = memory_config()  # the default k1 and b, which the backfill assumes
    await _load(conn, cfg, _texts(300, 8, (8, 30)))
    await conn.execute(
        "DROP TABLE bm25_postings; DROP INDEX bm25_terms_id;"
        "ALTER TABLE bm25_terms DROP COLUMN id;"
        "ALTER TABLE bm25_corpus DROP COLUMN ref_k1, DROP COLUMN ref_b, DROP COLUMN ref_avgdl;"
        "DELETE FROM schema_migrations WHERE version = '007_bm25_postings'"
    )
    assert await db.migrate(db_url, cfg) == ["007_bm25_postings"]
    postings = await conn.fetchval("SELECT count(*) FROM bm25_postings")
    assert postings == await conn.fetchval("SELECT sum(df) FROM bm25_terms")
    for query in QUERIES:
        pruned, full = await _both(conn, cfg, SearchRequest(query=query, tenant="t1", k=10), 256)
        _same(pruned, full)
