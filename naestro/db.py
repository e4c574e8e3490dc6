"""The memory database: migrations, monthly chunk partitions and the embedding index.

Importable without the activities (the CLI, the gateway and the dev stack use it). The one
schema (memory and gateway tables) is the ``naestro/migrations/NNN_*.sql`` files, shipped in
the package, applied in order, each once, under an advisory lock; ``{{dim}}`` in them
becomes ``memory.dim``.
"""

from __future__ import annotations

import logging
import os
import re
from datetime import UTC, date, datetime
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import asyncpg
from pgvector.asyncpg import register_vector

from naestro.config.settings import MemoryConfig
from naestro.errors import ConfigError, NaestroError

log = logging.getLogger(__name__)
_LOCK = 0x6E6165737472  # advisory lock key: "naestr"
_MIGRATION = re.compile(r"[0-9]{3}_[a-z0-9_]+\.sql")


class MemoryUnavailable(NaestroError):
    """Memory is enabled but no database is configured or reachable."""


def _version(file: Traversable) -> str:
    return file.name.removesuffix(".sql")


def database_url(cfg: MemoryConfig) -> str:
    url = os.environ.get(cfg.database_url_env)
    if not url:
        raise MemoryUnavailable(
            f"memory needs a Postgres URL in ${cfg.database_url_env} "
            "(`naestro dev` starts an embedded one)"
        )
    return url


async def _init(conn: asyncpg.Connection) -> None:
    await register_vector(conn)


async def connect(url: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(url)
    await _init(conn)
    return conn


async def create_pool(url: str, size: int = 8) -> asyncpg.Pool:
    # Two open from the start: a hybrid search runs its legs on two connections.
    return await asyncpg.create_pool(url, min_size=min(2, size), max_size=size, init=_init)


def migration_files() -> list[Traversable]:
    """The migrations shipped inside the package (so an installed wheel has them too)."""
    found = resources.files("naestro").joinpath("migrations").iterdir()
    return sorted((p for p in found if _MIGRATION.fullmatch(p.name)), key=lambda p: p.name)


async def _schema_dim(conn: asyncpg.Connection) -> int | None:
    typ = await conn.fetchval(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = to_regclass('chunks') AND attname = 'embedding'"
    )
    return int(typ.removeprefix("vector(").rstrip(")")) if typ else None


async def migrate(url: str, cfg: MemoryConfig, *, now: datetime | None = None) -> list[str]:
    """Apply pending migrations, partitions and the embedding index; return what was applied."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK)
        await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        applied = []
        for file in migration_files():
            version = _version(file)
            if version in done:
                continue
            sql = file.read_text(encoding="utf-8").replace("{{dim}}", str(cfg.dim))
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version) VALUES ($1)", _version(file)
                )
            applied.append(_version(file))
            log.info("applied migration %s", _version(file))
        dim = await _schema_dim(conn)
        if dim is not None and dim != cfg.dim:
            raise ConfigError(
                f"memory.dim is {cfg.dim} but the database's embedding column is vector({dim}); "
                "use an embedder of that width or a fresh database"
            )
        await ensure_partitions(conn, now or datetime.now(UTC), cfg.partitions_ahead)
        await ensure_vector_index(conn, cfg)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK)
        await conn.close()


def _month(d: date, offset: int) -> date:
    index = d.year * 12 + d.month - 1 + offset
    return date(index // 12, index % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"chunks_{month.year:04d}_{month.month:02d}"


async def ensure_partitions(conn: asyncpg.Connection, at: datetime, ahead: int) -> list[str]:
    """Create the monthly partitions of ``at``'s month and ``ahead`` months after it (UTC)."""
    first = _month(at.astimezone(UTC).date(), 0)
    created = []
    for i in range(ahead + 1):
        start, end = _month(first, i), _month(first, i + 1)
        name = partition_name(start)
        if await conn.fetchval("SELECT to_regclass($1)", name):
            continue
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF chunks "
            f"FOR VALUES FROM ('{start.isoformat()} 00:00:00+00') "
            f"TO ('{end.isoformat()} 00:00:00+00')"
        )
        created.append(name)
    return created


async def vector_index_kind(conn: asyncpg.Connection) -> str | None:
    value: str | None = await conn.fetchval(
        "SELECT value FROM memory_meta WHERE key = 'chunks_vector_index'"
    )
    return value


async def ensure_vector_index(
    conn: asyncpg.Connection, cfg: MemoryConfig, *, rebuild: bool = False
) -> str:
    """HNSW (cosine) on chunks.embedding; ivfflat when the HNSW build exceeds its time cap."""
    kind = await vector_index_kind(conn)
    if kind and not rebuild:
        return kind
    await conn.execute("DROP INDEX IF EXISTS chunks_embedding")
    cap_ms = max(1, int(cfg.hnsw_build_cap_seconds * 1000))
    try:
        async with conn.transaction():
            await conn.execute(f"SET LOCAL statement_timeout = {cap_ms}")
            await conn.execute(
                "CREATE INDEX chunks_embedding ON chunks USING hnsw "
                f"(embedding vector_cosine_ops) WITH (m = {cfg.hnsw_m}, "
                f"ef_construction = {cfg.hnsw_ef_construction})"
            )
        kind = "hnsw"
    except asyncpg.QueryCanceledError:
        rows = await conn.fetchval("SELECT count(*) FROM chunks")
        lists = max(1, min(int(rows) // 1000, 4000))
        log.warning("HNSW build exceeded %.0fs: building ivfflat (lists=%d)", cap_ms / 1e3, lists)
        await conn.execute(
            "CREATE INDEX chunks_embedding ON chunks USING ivfflat "
            f"(embedding vector_cosine_ops) WITH (lists = {lists})"
        )
        kind = "ivfflat"
    await conn.execute(
        "INSERT INTO memory_meta (key, value) VALUES ('chunks_vector_index', $1) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        kind,
    )
    return kind


async def table_counts(conn: asyncpg.Connection) -> dict[str, Any]:
    rows = await conn.fetch(
        "SELECT 'documents' t, count(*) n FROM documents UNION ALL "
        "SELECT 'chunks', count(*) FROM chunks UNION ALL SELECT 'tasks', count(*) FROM tasks"
    )
    return {r["t"]: r["n"] for r in rows}
