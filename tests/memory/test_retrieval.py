"""Hybrid retrieval on real Postgres: fusion, feedback and verification boosts, tenants,
time filters, and consistent reads while ingestion commits."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from activities.memory import fusion, retrieval
from activities.memory.chunking import Chunk
from activities.memory.embedders import CheckedEmbedder
from activities.memory.service import MemoryService
from activities.memory.store import NewDocument
from naestro.contracts.memory import FeedbackRequest, SearchRequest, WriteBackRequest
from tests.memory.conftest import memory_config

STATS = "SELECT coalesce(sum(n_chunks), 0) FROM bm25_corpus"
DOCS = {
    "postgres.md": "Postgres stores rows in heap pages; vacuum reclaims dead tuples.",
    "vector.md": "pgvector adds HNSW and ivfflat indexes for nearest neighbour search.",
    "temporal.md": "Temporal workflows are durable: activities retry and history replays.",
    "cooking.md": "Simmer the tomato sauce slowly and season it with basil.",
}


async def _add(service: MemoryService, tenant: str, source: str, text: str, **kw: object) -> int:
    ingestor = await service.ingestor()
    doc = NewDocument(tenant, "docs", source, text, [Chunk("", text)], **kw)  # type: ignore[arg-type]
    doc_id = await ingestor.add_text(doc)
    assert doc_id is not None
    return doc_id


def test_rrf_and_weighted_fusion_orders() -> None:
    bm25 = [(1, 9.0), (2, 5.0)]
    vector = [(3, 0.9), (2, 0.8), (4, 0.1)]
    rrf = fusion.rrf(bm25, vector, k=60)
    # 2 is second in both legs: 2/62 beats 1/61 for 1 and 3 (one leg each; ties by id).
    assert [f.chunk_id for f in rrf] == [2, 1, 3, 4]
    assert rrf[0].score == pytest.approx(2 / 62)
    assert (rrf[0].bm25_rank, rrf[0].vector_rank) == (2, 2)
    blend = fusion.weighted(bm25, vector, vector_weight=0.5)
    # min-max per leg: 1 -> 0.5*1, 3 -> 0.5*1, 2 -> 0.5*0 + 0.5*0.875, 4 -> 0.
    assert [f.chunk_id for f in blend] == [1, 3, 2, 4]
    assert blend[2].score == pytest.approx(0.4375)
    assert [f.chunk_id for f in fusion.weighted(bm25, vector, 0.9)] == [3, 2, 1, 4]
    assert fusion.boost(5, 0, None, per_use=0.1, cap=0.3, verified_boost=0.2) == pytest.approx(0.3)
    assert fusion.boost(1, 3, True, per_use=0.1, cap=0.3, verified_boost=0.2) == pytest.approx(0.0)


async def test_hybrid_finds_by_words_and_by_meaning(service: MemoryService) -> None:
    for source, text in DOCS.items():
        await _add(service, "acme", source, text)
    by_words = await service.search(SearchRequest(query="ivfflat", tenant="acme", legs="bm25"))
    assert [h.source for h in by_words.hits] == ["vector.md"]
    by_meaning = await service.search(
        SearchRequest(query="how do I cook pasta sauce", tenant="acme", legs="vector", k=1)
    )
    assert by_meaning.hits[0].source == "cooking.md"
    hybrid = await service.search(SearchRequest(query="durable workflow retries", tenant="acme"))
    top = hybrid.hits[0]
    assert top.source == "temporal.md"
    assert top.bm25_rank == 1 and top.vector_rank == 1
    assert top.score == pytest.approx(1.0)  # top of both legs: 0.5 * 1 + 0.5 * 1
    rrf = await service.search(
        SearchRequest(query="durable workflow retries", tenant="acme", fusion="rrf")
    )
    assert rrf.hits[0].source == "temporal.md" and rrf.hits[0].score == pytest.approx(2 / 61)
    assert "temporal.md" in top.citation and hybrid.index == "hnsw"


async def test_feedback_boost_reorders_and_is_capped(service: MemoryService) -> None:
    a = "Retry failed activities with exponential backoff."
    b = "Retry failed activities with a fixed backoff."
    await _add(service, "acme", "a.md", a)
    await _add(service, "acme", "b.md", b)
    req = SearchRequest(query="exponential backoff retry", tenant="acme", fusion="rrf")
    blend = req.model_copy(update={"fusion": "weighted"})
    before = (await service.search(req)).hits
    blend_before = {h.source: h.score for h in (await service.search(blend)).hits}
    assert before[0].source == "a.md"
    loser = before[1]
    for _ in range(5):
        await service.feedback(FeedbackRequest(verdict="approve", chunk_id=loser.chunk_id,
                                               tenant="acme"))  # fmt: skip
    after = (await service.search(req)).hits
    assert after[0].source == "b.md"
    assert after[0].boost == pytest.approx(0.3)  # 5 x 0.1, capped at 0.3
    blend_after = {h.source: h.score for h in (await service.search(blend)).hits}
    assert blend_after["b.md"] == pytest.approx(blend_before["b.md"] + 0.3)
    assert blend_after["a.md"] == pytest.approx(blend_before["a.md"])
    res = await service.feedback(
        FeedbackRequest(verdict="reject", chunk_id=loser.chunk_id, tenant="acme")
    )
    assert (res.approvals, res.rejections) == (5, 1)
    with pytest.raises(Exception, match="no chunk"):
        await service.feedback(
            FeedbackRequest(verdict="approve", chunk_id=loser.chunk_id, tenant="other")
        )


async def test_verified_answers_rank_above_unverified(service: MemoryService) -> None:
    common = {"tenant": "acme", "kind": "code", "prompt": "reverse a linked list in python"}
    answer = "def reverse(head):\n    prev = None\n    ..."
    for task_id, ok in (("t-unverified", False), ("t-verified", True)):
        status = "succeeded" if ok else "unverified"
        await service.write_back(
            WriteBackRequest(task_id=task_id, status=status, verified=ok,
                             answer=answer + " " * ok, **common)
        )  # fmt: skip
    hits = (await service.search(SearchRequest(query="reverse linked list", tenant="acme"))).hits
    assert [h.task_id for h in hits[:2]] == ["t-verified", "t-unverified"]
    assert hits[0].boost == pytest.approx(0.2) and hits[0].verified is True


async def test_tenants_are_isolated(service: MemoryService, conn: asyncpg.Connection) -> None:
    await _add(service, "acme", "acme.md", "the secret launch plan of acme rockets")
    alone = (await service.search(SearchRequest(query="launch plan rockets", tenant="acme"))).hits
    await _add(service, "globex", "globex.md", "the launch plan of globex rockets and rockets")
    await _add(service, "globex", "g2.md", "launch launch launch")
    mixed = (await service.search(SearchRequest(query="launch plan rockets", tenant="acme"))).hits
    assert [h.source for h in mixed] == ["acme.md"]
    # Another tenant's documents change neither the hits nor the BM25 statistics.
    assert mixed[0].bm25 == pytest.approx(alone[0].bm25)
    other = (await service.search(SearchRequest(query="secret acme", tenant="globex"))).hits
    assert all(h.source.startswith("g") for h in other)


async def test_time_and_collection_filters(service: MemoryService) -> None:
    old = datetime.now(UTC) - timedelta(days=400)
    await _add(service, "acme", "old.md", "quarterly revenue report", created_at=old)
    await _add(service, "acme", "new.md", "quarterly revenue forecast")
    since = datetime.now(UTC) - timedelta(days=30)
    recent = await service.search(SearchRequest(query="quarterly revenue", tenant="acme",
                                                since=since))  # fmt: skip
    assert [h.source for h in recent.hits] == ["new.md"]
    until = await service.search(SearchRequest(query="quarterly revenue", tenant="acme",
                                               until=since))  # fmt: skip
    assert [h.source for h in until.hits] == ["old.md"]
    none = await service.search(
        SearchRequest(query="quarterly revenue", tenant="acme", collections=["elsewhere"])
    )
    assert none.hits == []


async def test_reads_see_consistent_snapshots_during_ingestion(
    service: MemoryService, db_url: str
) -> None:
    texts = [f"document number {i} about topic {i % 3}" for i in range(30)]
    done = asyncio.Event()

    async def ingest() -> None:
        for i, text in enumerate(texts):
            await _add(service, "acme", f"d{i}.md", text)
        done.set()

    async def read() -> int:
        conn = await asyncpg.connect(db_url)
        checks = 0
        try:
            while not done.is_set() or checks == 0:
                async with conn.transaction(isolation="repeatable_read", readonly=True):
                    stats = await conn.fetchval(STATS)
                    await asyncio.sleep(0)  # let the writer commit between the two reads
                    count = await conn.fetchval("SELECT count(*) FROM chunks")
                assert stats == count
                checks += 1
        finally:
            await conn.close()
        return checks

    _, checks = await asyncio.gather(ingest(), read())
    assert checks > 0
    hits = (await service.search(SearchRequest(query="topic", tenant="acme", k=50))).hits
    assert len(hits) == 30


async def test_the_vector_leg_beside_bm25_reads_the_searchs_snapshot(
    service: MemoryService, db_url: str, local_embedder: CheckedEmbedder
) -> None:
    # The legs run side by side on two connections; the second imports the first's
    # snapshot, so a document committed after the search began is in neither leg.
    cfg = memory_config()
    await _add(service, "acme", "before.md", "simmer the sauce before serving")
    pool = await service.pool()
    query = (await local_embedder.embed(["sauce"]))[0]
    req = SearchRequest(query="sauce", tenant="acme")
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        await conn.fetchval("SELECT count(*) FROM chunks")  # the snapshot is taken here
        await _add(service, "acme", "after.md", "the sauce committed during the search")
        bm25, vec = await retrieval.hybrid_legs(pool, conn, cfg, req, query, 50)
    assert len(bm25) == len(vec) == 1
    assert [c for c, _ in bm25] == [c for c, _ in vec]
    hits = (await service.search(req)).hits  # a new search sees both, in both legs
    assert len(hits) == 2 and all(h.bm25_rank and h.vector_rank for h in hits)


async def test_concurrent_searches_on_a_small_pool_all_finish(service: MemoryService) -> None:
    # Each hybrid search holds one connection and wants a second: with four connections and
    # twelve searches at once, those that find none free run their legs in turn.
    for source, text in DOCS.items():
        await _add(service, "acme", source, text)
    reqs = [SearchRequest(query="durable workflows", tenant="acme") for _ in range(12)]
    results = await asyncio.wait_for(asyncio.gather(*(service.search(r) for r in reqs)), 60)
    assert {tuple(h.chunk_id for h in r.hits) for r in results} == {
        tuple(h.chunk_id for h in results[0].hits)
    }
    assert results[0].hits[0].source == "temporal.md"
