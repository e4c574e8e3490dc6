"""Writes to memory: documents and their chunks, BM25 statistics and postings, deletes.

Each document is one transaction: its row, its chunks (with full-text vector, length and
embedding) and the BM25 statistics change together, so a concurrent reader sees a document
entirely or not at all, and the statistics always match the chunks. Content hashes make a
second ingest of the same content a no-op (that is also how an interrupted ingest resumes).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import numpy as np

from activities.memory.bm25 import term_part
from activities.memory.chunking import Chunk
from activities.memory.embedders import Vectors
from naestro.config.settings import MemoryConfig
from naestro.contracts.text import clean_text

# Full-text vector of a chunk: its heading path and its text.
_INSERT_CHUNK = """
INSERT INTO chunks (document_id, tenant, collection, kind, ord, source, heading, content,
                    tsv, tf, len, embedding, verified, task_id, created_at)
SELECT $1, $2, $3, $4, $5, $6, $7, $8, t.tsv, f.tf, f.len, $10, $11, $12, coalesce($13, now())
FROM (SELECT to_tsvector($9::regconfig, $7 || ' ' || $8) AS tsv) t
CROSS JOIN LATERAL (
    SELECT coalesce(jsonb_object_agg(lexeme, array_length(positions, 1)), '{}') AS tf,
           coalesce(sum(array_length(positions, 1)), 0) AS len
    FROM unnest(t.tsv)
) f
"""

# df += the number of the document's chunks holding each term; ordered by term so
# concurrent writers lock statistic rows in the same order (no deadlocks).
_TERMS_DELTA = """
INSERT INTO bm25_terms AS b (tenant, collection, term, df)
SELECT $2, $3, u.lexeme, count(*)
FROM chunks c CROSS JOIN LATERAL unnest(c.tsv) u
WHERE c.document_id = $1
GROUP BY u.lexeme ORDER BY u.lexeme
ON CONFLICT (tenant, term, collection) DO UPDATE SET df = b.df + excluded.df
"""

# Deletes subtract with UPDATE (an INSERT of a negative df would trip the CHECK first).
_TERMS_MINUS = """
UPDATE bm25_terms b SET df = b.df - d.n
FROM (
    SELECT u.lexeme AS term, count(*) AS n
    FROM chunks c CROSS JOIN LATERAL unnest(c.tsv) u
    WHERE c.document_id = $1 GROUP BY u.lexeme ORDER BY u.lexeme
) d
WHERE b.tenant = $2 AND b.collection = $3 AND b.term = d.term
"""

# The scope's reference k1, b and avgdl (for the postings' impacts) are fixed by its first
# document: impacts never need rewriting as the corpus grows (retrieval.py bounds the drift).
_CORPUS_DELTA = """
INSERT INTO bm25_corpus AS b (tenant, collection, n_chunks, total_len, ref_k1, ref_b, ref_avgdl)
SELECT $2, $3, count(*), coalesce(sum(len), 0), $4, $5, greatest(avg(len), 1)
FROM chunks WHERE document_id = $1
ON CONFLICT (tenant, collection) DO UPDATE
SET n_chunks = b.n_chunks + excluded.n_chunks, total_len = b.total_len + excluded.total_len,
    ref_k1 = coalesce(b.ref_k1, excluded.ref_k1), ref_b = coalesce(b.ref_b, excluded.ref_b),
    ref_avgdl = coalesce(b.ref_avgdl, excluded.ref_avgdl)
"""

# A chunk's postings: one per lexeme, its impact with the scope's reference parameters.
# Deletes recompute the same impacts to remove rows by the index's full key.
_POSTINGS = (
    """
SELECT t.id AS term_id,
       ("""
    + term_part("u.tf", "c.len", "r.ref_k1", "r.ref_b", "r.ref_avgdl")
    + """)::real AS impact,
       c.id AS chunk_id, u.tf::int AS tf, c.len
FROM chunks c
JOIN bm25_corpus r ON r.tenant = $2 AND r.collection = $3
CROSS JOIN LATERAL (
    SELECT lexeme, array_length(positions, 1)::float8 AS tf FROM unnest(c.tsv)
) u
JOIN bm25_terms t ON t.tenant = $2 AND t.collection = $3 AND t.term = u.lexeme
WHERE c.document_id = $1
"""
)
_POSTINGS_ADD = f"INSERT INTO bm25_postings (term_id, impact, chunk_id, tf, len) {_POSTINGS}"
_POSTINGS_MINUS = f"""
DELETE FROM bm25_postings p USING ({_POSTINGS}) d
WHERE p.term_id = d.term_id AND p.impact = d.impact AND p.chunk_id = d.chunk_id
"""

_CORPUS_MINUS = """
UPDATE bm25_corpus b SET n_chunks = b.n_chunks - d.n, total_len = b.total_len - d.total
FROM (SELECT count(*) AS n, coalesce(sum(len), 0) AS total FROM chunks WHERE document_id = $1) d
WHERE b.tenant = $2 AND b.collection = $3
"""


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class NewDocument:
    tenant: str
    collection: str
    source: str
    text: str
    chunks: Sequence[Chunk]
    title: str = ""
    kind: str = "chunk"
    verified: bool | None = None
    task_id: str | None = None
    created_at: datetime | None = None


async def known_hashes(conn: asyncpg.Connection, tenant: str, collection: str) -> set[str]:
    rows = await conn.fetch(
        "SELECT content_hash FROM documents WHERE tenant = $1 AND collection = $2",
        tenant,
        collection,
    )
    return {r["content_hash"] for r in rows}


async def _add_stats(
    conn: asyncpg.Connection, doc_id: int, tenant: str, collection: str, cfg: MemoryConfig
) -> None:
    await conn.execute(_TERMS_DELTA, doc_id, tenant, collection)
    await conn.execute(_CORPUS_DELTA, doc_id, tenant, collection, cfg.bm25_k1, cfg.bm25_b)
    await conn.execute(_POSTINGS_ADD, doc_id, tenant, collection)


async def _remove_stats(
    conn: asyncpg.Connection, doc_id: int, tenant: str, collection: str
) -> None:
    await conn.execute(_POSTINGS_MINUS, doc_id, tenant, collection)
    await conn.execute(_TERMS_MINUS, doc_id, tenant, collection)
    await conn.execute(_CORPUS_MINUS, doc_id, tenant, collection)
    await conn.execute(
        "DELETE FROM bm25_terms WHERE tenant = $1 AND collection = $2 AND df = 0",
        tenant,
        collection,
    )


async def add_document(
    conn: asyncpg.Connection, doc: NewDocument, vectors: Vectors, cfg: MemoryConfig
) -> int | None:
    """Store a document, its chunks and their statistics; None when it is a duplicate."""
    if len(vectors) != len(doc.chunks):
        raise ValueError(f"{len(doc.chunks)} chunks but {len(vectors)} embeddings")
    async with conn.transaction():
        doc_id: int | None = await conn.fetchval(
            "INSERT INTO documents (tenant, collection, source, title, content_hash, chunk_count) "
            "VALUES ($1, $2, $3, $4, $5, $6) "
            "ON CONFLICT (tenant, collection, content_hash) DO NOTHING RETURNING id",
            doc.tenant,
            doc.collection,
            clean_text(doc.source),
            clean_text(doc.title),
            content_hash(doc.text),
            len(doc.chunks),
        )
        if doc_id is None:
            return None
        await conn.executemany(
            _INSERT_CHUNK,
            [
                (
                    doc_id, doc.tenant, doc.collection, doc.kind, i, clean_text(doc.source),
                    clean_text(c.heading), clean_text(c.content), cfg.text_config,
                    np.asarray(v, dtype=np.float32), doc.verified, doc.task_id, doc.created_at,
                )
                for i, (c, v) in enumerate(zip(doc.chunks, vectors, strict=True))
            ],
        )  # fmt: skip
        await _add_stats(conn, doc_id, doc.tenant, doc.collection, cfg)
        return doc_id


async def delete_document(conn: asyncpg.Connection, doc_id: int) -> bool:
    """Delete a document and its chunks, taking their terms out of the statistics."""
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT tenant, collection FROM documents WHERE id = $1 FOR UPDATE", doc_id
        )
        if row is None:
            return False
        await _remove_stats(conn, doc_id, row["tenant"], row["collection"])
        await conn.execute("DELETE FROM documents WHERE id = $1", doc_id)
        return True
