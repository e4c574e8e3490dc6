-- Memory schema: documents, chunks (monthly range partitions), BM25 statistics, past tasks,
-- plans, decision traces and feedback. {{dim}} is memory.dim from temporal.yaml.
-- The embedding index (HNSW, or ivfflat when HNSW exceeds its time cap) and the monthly
-- partitions are created by naestro/db.py, since both depend on settings and on time.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE documents (
    id           bigserial PRIMARY KEY,
    tenant       text NOT NULL,
    collection   text NOT NULL,
    source       text NOT NULL,
    title        text NOT NULL DEFAULT '',
    content_hash text NOT NULL,
    chunk_count  int NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant, collection, content_hash)
);
CREATE INDEX documents_source ON documents (tenant, collection, source);

CREATE TABLE chunks (
    id           bigserial,
    document_id  bigint REFERENCES documents (id) ON DELETE CASCADE,
    tenant       text NOT NULL,
    collection   text NOT NULL,
    kind         text NOT NULL DEFAULT 'chunk' CHECK (kind IN ('chunk', 'answer')),
    ord          int NOT NULL DEFAULT 0,
    source       text NOT NULL DEFAULT '',
    heading      text NOT NULL DEFAULT '',
    content      text NOT NULL,
    tsv          tsvector NOT NULL,
    tf           jsonb NOT NULL,  -- lexeme -> term frequency in tsv (BM25 without unnest)
    len          int NOT NULL,
    embedding    vector({{dim}}) NOT NULL,
    verified     boolean,
    task_id      text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
-- Rows outside every monthly partition (e.g. back-dated imports) land here.
CREATE TABLE chunks_default PARTITION OF chunks DEFAULT;
CREATE INDEX chunks_scope ON chunks (tenant, collection, created_at);
CREATE INDEX chunks_tsv ON chunks USING gin (tsv);
CREATE INDEX chunks_document ON chunks (document_id);
CREATE INDEX chunks_id ON chunks (id);

-- Okapi BM25 statistics per (tenant, collection), kept current in the ingest/delete
-- transactions: df = chunks containing the term; n_chunks and total_len give avgdl.
CREATE TABLE bm25_terms (
    tenant     text NOT NULL,
    collection text NOT NULL,
    term       text NOT NULL,
    df         bigint NOT NULL CHECK (df >= 0),
    PRIMARY KEY (tenant, term, collection)  -- looked up by (tenant, term) over collections
);
CREATE TABLE bm25_corpus (
    tenant     text NOT NULL,
    collection text NOT NULL,
    n_chunks   bigint NOT NULL CHECK (n_chunks >= 0),
    total_len  bigint NOT NULL CHECK (total_len >= 0),
    PRIMARY KEY (tenant, collection)
);

CREATE TABLE tasks (
    task_id     text PRIMARY KEY,
    tenant      text NOT NULL,
    kind        text NOT NULL,
    prompt      text NOT NULL,
    status      text NOT NULL,
    verified    boolean,
    judge_score real,
    tokens      bigint NOT NULL DEFAULT 0,
    usd         double precision NOT NULL DEFAULT 0,
    rounds      int NOT NULL DEFAULT 0,
    embedding   vector({{dim}}) NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tasks_tenant ON tasks (tenant, created_at);
CREATE INDEX tasks_embedding ON tasks USING hnsw (embedding vector_cosine_ops);

CREATE TABLE plans (
    task_id    text PRIMARY KEY REFERENCES tasks (task_id) ON DELETE CASCADE,
    plan       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE decision_traces (
    id            bigserial PRIMARY KEY,
    task_id       text NOT NULL REFERENCES tasks (task_id) ON DELETE CASCADE,
    seq           int NOT NULL,
    phase         text NOT NULL,
    role          text NOT NULL,
    provider      text NOT NULL,
    model         text NOT NULL,
    input_tokens  int NOT NULL,
    output_tokens int NOT NULL,
    cost_usd      double precision NOT NULL,
    latency_ms    double precision NOT NULL,
    scripted      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (task_id, seq)
);

CREATE TABLE feedback (
    id         bigserial PRIMARY KEY,
    tenant     text NOT NULL,
    chunk_id   bigint,
    task_id    text,
    verdict    text NOT NULL CHECK (verdict IN ('approve', 'reject')),
    note       text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (chunk_id IS NOT NULL OR task_id IS NOT NULL)
);
CREATE INDEX feedback_chunk ON feedback (chunk_id);
CREATE INDEX feedback_task ON feedback (task_id);

CREATE TABLE memory_meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);
