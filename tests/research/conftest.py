"""Research fixtures over the session's Postgres (tests/conftest.py: db_url)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest


@pytest.fixture
def url_env(db_url: str) -> Iterator[str]:
    """A per-test variable naming the test database (how deployments pass DATABASE_URL);
    subprocess workers inherit it."""
    name = f"NAESTRO_TEST_DB_{uuid.uuid4().hex[:8]}"
    os.environ[name] = db_url
    yield name
    del os.environ[name]
