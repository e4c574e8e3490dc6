"""The gateway's Postgres tables: plain idempotent SQL run at startup, owned by the API.

api_keys         hashed API keys (sha256 of the secret part), scopes, tenant, revocation
api_tasks        which tenant started a task and under which response-cache key
response_cache   answers of succeeded tasks, keyed by the normalised request
slack_requests   signatures of Slack interactions already applied (replay protection)
task_feedback    what people report about a task's result (the web page's Report issue)
"""

from __future__ import annotations

from typing import Any

import asyncpg

SCHEMA = """
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
"""

Pool = Any  # asyncpg.Pool (asyncpg ships no type information)


class _NoResetConnection(asyncpg.Connection):  # type: ignore[misc]
    """Skips the reset query on release: a round trip per request saved.

    The gateway keeps no session state (no LISTEN, no session SET, only transaction-scoped
    advisory locks); an open transaction is still rolled back by asyncpg on release.
    """

    def get_reset_query(self) -> str:
        return ""


async def create_pool(database_url: str) -> Pool:
    """A small pool with the schema in place (idempotent: safe on every start)."""
    pool = await asyncpg.create_pool(
        database_url, min_size=1, max_size=10, connection_class=_NoResetConnection
    )
    async with pool.acquire() as conn:
        # One gateway at a time creates the tables (concurrent CREATE IF NOT EXISTS races).
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(7061676174)")
            await conn.execute(SCHEMA)
    return pool
