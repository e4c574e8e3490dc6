"""Migrations, monthly partitions on their boundaries, HNSW -> ivfflat fallback, widths."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import numpy as np
import pytest

from activities.memory.chunking import Chunk
from activities.memory.store import NewDocument, add_document
from naestro import db
from naestro.errors import ConfigError
from tests.memory.conftest import memory_config


async def _partition_of(conn: asyncpg.Connection, chunk_id: int) -> str:
    name: str = await conn.fetchval(
        "SELECT tableoid::regclass::text FROM chunks WHERE id = $1", chunk_id
    )
    return name


async def _add_at(conn: asyncpg.Connection, at: datetime, text: str) -> int:
    doc = NewDocument("t", "c", text, text, [Chunk("", text)], created_at=at)
    vec = np.random.default_rng(0).standard_normal((1, 384)).astype(np.float32)
    doc_id = await add_document(conn, doc, vec, memory_config())
    chunk_id: int = await conn.fetchval("SELECT id FROM chunks WHERE document_id = $1", doc_id)
    return chunk_id


async def test_migrate_is_idempotent(fresh_url: str) -> None:
    cfg = memory_config()
    first = await db.migrate(fresh_url, cfg)
    assert first == [
        "001_memory",
        "002_gateway",
        "003_sealed_cache",
        "004_research",
        "005_blobs",
        "006_rate_limits",
        "007_bm25_postings",
    ]
    assert await db.migrate(fresh_url, cfg) == []


async def test_partitions_created_ahead_and_split_on_month_boundaries(fresh_url: str) -> None:
    now = datetime(2027, 12, 15, tzinfo=UTC)
    await db.migrate(fresh_url, memory_config(partitions_ahead=2), now=now)
    conn = await db.connect(fresh_url)
    try:
        names = await conn.fetch(
            "SELECT inhrelid::regclass::text AS n FROM pg_inherits "
            "WHERE inhparent = 'chunks'::regclass ORDER BY 1"
        )
        assert [r["n"] for r in names] == [
            "chunks_2027_12", "chunks_2028_01", "chunks_2028_02", "chunks_default",
        ]  # fmt: skip
        last_dec = await _add_at(conn, datetime(2027, 12, 31, 23, 59, 59, 999999, UTC), "a")
        first_jan = await _add_at(conn, datetime(2028, 1, 1, tzinfo=UTC), "b")
        old = await _add_at(conn, datetime(2020, 5, 1, tzinfo=UTC), "c")
        assert await _partition_of(conn, last_dec) == "chunks_2027_12"
        assert await _partition_of(conn, first_jan) == "chunks_2028_01"
        assert await _partition_of(conn, old) == "chunks_default"
        # Every partition carries the embedding index of the parent.
        indexed = await conn.fetchval(
            "SELECT count(*) FROM pg_indexes WHERE tablename LIKE 'chunks_20%' "
            "AND indexdef LIKE '%hnsw%'"
        )
        assert indexed == 3
    finally:
        await conn.close()


async def test_hnsw_build_over_its_cap_falls_back_to_ivfflat(fresh_url: str) -> None:
    await db.migrate(fresh_url, memory_config())
    conn = await db.connect(fresh_url)
    try:
        assert await db.vector_index_kind(conn) == "hnsw"
        rng = np.random.default_rng(1)
        rows = [(f"d{i}", rng.standard_normal(384).astype(np.float32)) for i in range(1000)]
        await conn.execute("DROP INDEX chunks_embedding")  # bulk load, then build
        await conn.execute(
            "INSERT INTO documents (id, tenant, collection, source, content_hash) "
            "VALUES (1, 't', 'c', 's', 'h')"
        )
        await conn.executemany(
            "INSERT INTO chunks (document_id, tenant, collection, content, tsv, tf, len, "
            "embedding) VALUES (1, 't', 'c', $1, to_tsvector($1), '{}', 1, $2)",
            rows,
        )
        capped = memory_config(hnsw_build_cap_seconds=0.001)
        assert await db.ensure_vector_index(conn, capped, rebuild=True) == "ivfflat"
        assert await db.vector_index_kind(conn) == "ivfflat"
        indexdef = await conn.fetchval(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'chunks_embedding'"
        )
        assert "ivfflat" in indexdef
        # The fallback index serves nearest-neighbour queries.
        probe = rows[7][1]
        async with conn.transaction():
            await conn.execute("SET LOCAL enable_seqscan = off")
            rows = await conn.fetch(
                "EXPLAIN SELECT id FROM chunks ORDER BY embedding <=> $1 LIMIT 5", probe
            )
            plan = "\n".join(r[0] for r in rows)
            assert "Index Scan using chunks_default_embedding_idx" in plan, plan
    finally:
        await conn.close()


async def test_a_different_width_is_a_clear_error(fresh_url: str) -> None:
    await db.migrate(fresh_url, memory_config(dim=384))
    with pytest.raises(ConfigError, match=r"memory.dim is 768 .* vector\(384\)"):
        await db.migrate(fresh_url, memory_config(dim=768))
