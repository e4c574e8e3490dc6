-- Content-addressed blobs: workspaces (archives, git bundles) and large payloads that travel
-- by reference (Temporal external storage). The key is the sha256 of the bytes, so storing
-- the same bytes twice is one row and a retried store is a no-op.
CREATE TABLE blobs (
    sha256     text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    media_type text NOT NULL,
    size       bigint NOT NULL,
    data       bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
