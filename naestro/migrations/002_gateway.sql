-- The gateway's tables (api/): hashed API keys, which tenant started a task and under which
-- response-cache key, the response cache (sealed results), Slack replay guard, feedback.
-- IF NOT EXISTS: databases where the gateway created them before migrations owned them.
CREATE TABLE IF NOT EXISTS api_keys (
    id          text PRIMARY KEY,
    secret_hash text NOT NULL,
    name        text NOT NULL DEFAULT '',
    tenant      text NOT NULL,
    scopes      text[] NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE TABLE IF NOT EXISTS api_tasks (
    task_id    text PRIMARY KEY,
    tenant     text NOT NULL,
    cache_key  text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS response_cache (
    cache_key  text PRIMARY KEY,
    tenant     text NOT NULL,
    task_id    text NOT NULL,
    result     jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS task_feedback (
    id         bigserial PRIMARY KEY,
    task_id    text NOT NULL,
    tenant     text NOT NULL,
    reporter   text NOT NULL,
    kind       text NOT NULL,
    comment    text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS slack_requests (
    signature  text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);
