"""What the tool tests share: the test MCP server over stdio and over streamable HTTP, and
the two credentials they take from the environment (set for one test at a time)."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import serve
from tests.tools.mcp_server import build, guarded

SCRIPT = Path(__file__).parent / "mcp_server.py"
TOKEN_ENV = "NAESTRO_TEST_MCP_TOKEN"
TOKEN = "stdio-secret-3f9a"
BEARER_ENV = "NAESTRO_TEST_MCP_BEARER"
BEARER = "http-secret-81c2"


@pytest.fixture
def secrets() -> Iterator[None]:
    os.environ[TOKEN_ENV], os.environ[BEARER_ENV] = TOKEN, BEARER
    try:
        yield
    finally:
        del os.environ[TOKEN_ENV], os.environ[BEARER_ENV]


def stdio_server(record: Path) -> dict[str, Any]:
    command = [sys.executable, str(SCRIPT), "--record", str(record)]
    return {"command": command, "env": {"API_TOKEN": TOKEN_ENV}}


def http_server(url: str) -> dict[str, Any]:
    return {"url": url, "headers": {"Authorization": {"env": BEARER_ENV, "prefix": "Bearer "}}}


@asynccontextmanager
async def served(record: Path, seen: list[str]) -> AsyncIterator[str]:
    """The test server over streamable HTTP on a loopback port; its /mcp URL."""
    app = guarded(build(record).streamable_http_app(), BEARER, seen)
    async with serve(app) as base:
        yield f"{base}/mcp"
