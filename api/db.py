"""The gateway's Postgres pool. Its tables are migrations (naestro/migrations/002_gateway.sql),
applied with the rest of the schema by ``naestro.db.migrate`` at start:

api_keys         hashed API keys (sha256 of the secret part), scopes, tenant, revocation
api_tasks        which tenant started a task and under which response-cache key
response_cache   answers of succeeded tasks, keyed by the normalised request
slack_requests   signatures of Slack interactions already applied (replay protection)
task_feedback    what people report about a task's result (the web page's Report issue)
"""

from __future__ import annotations

from typing import Any

import asyncpg

from naestro import db
from naestro.config.settings import MemoryConfig

Pool = Any  # asyncpg.Pool (asyncpg ships no type information)


class _NoResetConnection(asyncpg.Connection):  # type: ignore[misc]
    """Skips the reset query on release: a round trip per request saved.

    The gateway keeps no session state (no LISTEN, no session SET, only transaction-scoped
    advisory locks); an open transaction is still rolled back by asyncpg on release.
    """

    def get_reset_query(self) -> str:
        return ""


async def create_pool(database_url: str, memory: MemoryConfig) -> Pool:
    """A small pool with the schema migrated (idempotent, under a lock: safe on every start)."""
    await db.migrate(database_url, memory)
    pool = await asyncpg.create_pool(
        database_url, min_size=1, max_size=10, connection_class=_NoResetConnection
    )
    return pool
