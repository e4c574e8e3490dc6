-- The gateway's admission rate limit: one token bucket per caller, shared by every gateway
-- replica (api/limits.py). `tokens` is the bucket's content at `updated`, the database's own
-- clock, so the replicas' clocks never enter the arithmetic. A bucket that has refilled is
-- the same as no row: such rows are deleted now and then.
CREATE TABLE rate_buckets (
    bucket  text PRIMARY KEY,
    tokens  float8 NOT NULL,
    updated timestamptz NOT NULL
);
CREATE INDEX rate_buckets_updated ON rate_buckets (updated);
