"""Memory fixtures over the session's Postgres (tests/conftest.py: pg_server, fresh_url): a
fresh database migrated with the test's memory settings, the service, the embedder."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest

from activities.memory.embedders import CheckedEmbedder, LocalEmbedder
from activities.memory.service import MemoryService
from naestro import db
from naestro.config.settings import MemoryConfig


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
    """Overrides tests/conftest.py's: migrated with this test's `cfg` (some override it)."""
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
