-- Research jobs (ResearchWorkflow): findings and reports live here, not in Temporal history;
-- the workflow carries their row ids. The unique keys make a retried save an upsert: an
-- activity retried after a crash finds its rows and returns the same ids.
CREATE TABLE research_findings (
    id          bigserial PRIMARY KEY,
    job_id      text NOT NULL,
    tenant      text NOT NULL,
    iteration   int NOT NULL,
    question_id text NOT NULL,
    question    text NOT NULL,
    text        text NOT NULL,
    citations   jsonb NOT NULL DEFAULT '[]',
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (job_id, iteration, question_id)
);
CREATE INDEX research_findings_job ON research_findings (job_id, id);

CREATE TABLE research_reports (
    id         bigserial PRIMARY KEY,
    job_id     text NOT NULL,
    tenant     text NOT NULL,
    iteration  int NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('digest', 'final')),
    text       text NOT NULL,
    citations  jsonb NOT NULL DEFAULT '[]',
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (job_id, iteration, kind)
);
CREATE INDEX research_reports_job ON research_reports (job_id, kind, id);
