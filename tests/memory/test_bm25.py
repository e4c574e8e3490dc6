"""BM25 in SQL equals a reference Okapi BM25 computed here, and stays equal after deletes."""

from __future__ import annotations

import math
import re
from collections import Counter

import asyncpg
import pytest

from activities.memory.chunking import Chunk
from activities.memory.retrieval import bm25_leg
from activities.memory.service import MemoryService
from activities.memory.store import NewDocument, delete_document
from naestro.config.settings import MemoryConfig
from naestro.contracts.memory import SearchRequest
from tests.memory.conftest import memory_config

CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "a quick brown dog outpaces a quick red fox",
    "lorem ipsum dolor sit amet consectetur",
    "the dog sleeps all day and the fox sleeps all night",
    "foxes and dogs and cats: the fox fox fox is quick",
    "nothing to see here at all",
]
QUERIES = ["quick fox", "dog sleeps", "fox", "lorem amet dog", "unknownword fox"]


def tokens(text: str) -> list[str]:
    # Postgres' `simple` configuration: lower-cased words, no stemming, no stop words.
    return re.findall(r"[a-z0-9]+", text.lower())


def reference_bm25(docs: list[str], query: str, k1: float, b: float) -> dict[int, float]:
    toks = [tokens(d) for d in docs]
    n = len(docs)
    avgdl = sum(len(t) for t in toks) / n
    scores: dict[int, float] = {}
    for term in dict.fromkeys(tokens(query)):
        df = sum(term in t for t in toks)
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        for i, t in enumerate(toks):
            tf = Counter(t)[term]
            if tf:
                norm = tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(t) / avgdl))
                scores[i] = scores.get(i, 0.0) + idf * norm
    return scores


async def _ingest(service: MemoryService, docs: list[str]) -> list[int]:
    ingestor = await service.ingestor()
    ids = []
    for i, text in enumerate(docs):
        doc = NewDocument("t1", "c", f"doc{i}", text, [Chunk("", text)])
        doc_id = await ingestor.add_text(doc)
        assert doc_id is not None
        ids.append(doc_id)
    return ids


async def _chunk_doc(conn: asyncpg.Connection) -> dict[int, int]:
    rows = await conn.fetch("SELECT id, document_id FROM chunks")
    return {r["id"]: r["document_id"] for r in rows}


@pytest.fixture
def cfg() -> MemoryConfig:
    return memory_config(text_config="simple", bm25_k1=1.5, bm25_b=0.6)


async def _check(service: MemoryService, conn: asyncpg.Connection, docs: dict[int, str]) -> None:
    chunk_doc = await _chunk_doc(conn)
    order = sorted(docs)
    for query in QUERIES:
        req = SearchRequest(query=query, tenant="t1", k=50)
        async with conn.transaction():
            got = await bm25_leg(conn, service.cfg, req, 50)
        ref = reference_bm25([docs[d] for d in order], query, 1.5, 0.6)
        expected = {order[i]: s for i, s in ref.items()}
        assert {chunk_doc[c]: pytest.approx(s, rel=1e-9) for c, s in got} == expected, query
        assert [s for _, s in got] == sorted((s for _, s in got), reverse=True)


async def test_bm25_equals_reference(service: MemoryService, conn: asyncpg.Connection) -> None:
    ids = await _ingest(service, CORPUS)
    await _check(service, conn, dict(zip(ids, CORPUS, strict=True)))


async def test_statistics_follow_deletes(service: MemoryService, conn: asyncpg.Connection) -> None:
    ids = await _ingest(service, CORPUS)
    assert await delete_document(conn, ids[1])
    assert await delete_document(conn, ids[4])
    assert not await delete_document(conn, ids[4])
    left = {d: t for d, t in zip(ids, CORPUS, strict=True) if d not in (ids[1], ids[4])}
    await _check(service, conn, left)
    corpus = await conn.fetchrow("SELECT n_chunks, total_len FROM bm25_corpus")
    assert corpus["n_chunks"] == 4
    assert corpus["total_len"] == sum(len(tokens(t)) for t in left.values())
    assert await conn.fetchval("SELECT df FROM bm25_terms WHERE term = 'quick'") == 1
    assert await conn.fetchval("SELECT count(*) FROM bm25_terms WHERE df <= 0") == 0
