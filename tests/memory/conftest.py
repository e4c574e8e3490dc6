"""Real Postgres + pgvector (pgserver) for the memory tests: one server per session, a fresh
migrated database per test."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from activities.memory.embedders import CheckedEmbedder, LocalEmbedder
from activities.memory.service import MemoryService
from naestro import db
from naestro.config.settings import MemoryConfig


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    from pgserver import get_server

    # Not under pytest's tmp dir: as root, pgserver runs Postgres as its own user, which
    # cannot enter /tmp/pytest-of-root (mode 0700).
    data = tempfile.mkdtemp(prefix="naestro-pg-")
    server = get_server(data, cleanup_mode="stop")
    server.psql("CREATE EXTENSION IF NOT EXISTS vector;")
    yield server
    server.cleanup()
    if (Path(data) / "postmaster.pid").exists():
        # pgserver skips the stop when it believes another process still holds a handle.
        from pgserver._commands import pg_ctl

        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=Path(data), user=server.system_user)
    shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
async def fresh_url(pg_server: Any) -> str:
    """A new, empty database (not migrated)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(pg_server.get_uri())
    try:
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    uri: str = pg_server.get_uri(name)
    return uri


@pytest.fixture(scope="session")
def local_embedder() -> CheckedEmbedder:
    return CheckedEmbedder(LocalEmbedder(), 384)


def memory_config(**overrides: Any) -> MemoryConfig:
    return MemoryConfig.model_validate({"enabled": True, **overrides})


@pytest.fixture
def cfg() -> MemoryConfig:
    return memory_config()


@pytest.fixture
async def db_url(fresh_url: str, cfg: MemoryConfig) -> str:
    await db.migrate(fresh_url, cfg)
    return fresh_url


@pytest.fixture
async def service(
    db_url: str, cfg: MemoryConfig, local_embedder: CheckedEmbedder
) -> AsyncIterator[MemoryService]:
    svc = MemoryService(cfg, db_url, embedder=local_embedder, pool_size=4)
    yield svc
    await svc.aclose()


@pytest.fixture
async def conn(db_url: str) -> AsyncIterator[asyncpg.Connection]:
    c = await db.connect(db_url)
    yield c
    await c.close()


@pytest.fixture
def url_env(db_url: str) -> Iterator[str]:
    """A per-test variable naming the test database (how deployments pass DATABASE_URL)."""
    name = f"NAESTRO_TEST_DB_{uuid.uuid4().hex[:8]}"
    os.environ[name] = db_url
    yield name
    del os.environ[name]
