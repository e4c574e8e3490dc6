-- BM25 top-k without scoring every matching chunk: impact-ordered postings.
--
-- One row per (term of a scope, chunk holding it): the term's id in bm25_terms, the chunk,
-- its tf and length, and an impact, the chunk's BM25 term part
-- tf*(k1+1)/(tf + k1*(1-b+b*len/avgdl)) with the scope's reference k1, b and avgdl
-- (bm25_corpus.ref_*, fixed when the scope's first document arrives). The index walks a
-- term's postings best first and holds tf and len, so a search reads the head of each query
-- term's postings without touching chunks, accumulates scores, and stops when no chunk
-- outside its top k can reach the k-th (see activities/memory/retrieval.py, docs/memory.md).
ALTER TABLE bm25_terms ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY;
CREATE UNIQUE INDEX bm25_terms_id ON bm25_terms (id);

ALTER TABLE bm25_corpus
    ADD COLUMN ref_k1 float8,
    ADD COLUMN ref_b float8,
    ADD COLUMN ref_avgdl float8;
-- Scopes that existed before this migration: today's statistics and the default k1, b
-- (a configuration with other values scores those scopes exactly, without pruning).
UPDATE bm25_corpus
SET ref_k1 = 1.2, ref_b = 0.75, ref_avgdl = greatest(total_len::float8 / nullif(n_chunks, 0), 1)
WHERE n_chunks > 0;

CREATE TABLE bm25_postings (
    term_id  bigint NOT NULL,
    impact   real NOT NULL,
    chunk_id bigint NOT NULL,
    tf       int NOT NULL,
    len      int NOT NULL
);
-- No foreign keys (a check per posting would double the write): postings are written and
-- deleted in their document's transaction, deletes by this index's full key.
CREATE INDEX bm25_postings_top ON bm25_postings (term_id, impact DESC, chunk_id)
    INCLUDE (tf, len);

INSERT INTO bm25_postings (term_id, impact, chunk_id, tf, len)
SELECT b.id,
       (u.tf * (r.ref_k1 + 1) / (u.tf + r.ref_k1 * (1 - r.ref_b + r.ref_b * c.len / r.ref_avgdl)))::real,
       c.id, u.tf::int, c.len
FROM chunks c
JOIN bm25_corpus r ON r.tenant = c.tenant AND r.collection = c.collection
CROSS JOIN LATERAL (
    SELECT lexeme, array_length(positions, 1)::float8 AS tf FROM unnest(c.tsv)
) u
JOIN bm25_terms b ON b.tenant = c.tenant AND b.collection = c.collection AND b.term = u.lexeme
WHERE r.ref_avgdl IS NOT NULL;
