"""Drill fixtures: a dev server of the drill's own (it may be killed), the report file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.converter import DataConverter

from tests.drills.report import report_path, table
from tests.processes import DevServer

REPORT_KEY = pytest.StashKey[Path]()


@pytest.fixture(scope="session")
def drill_report(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = report_path(tmp_path_factory.getbasetemp())
    request.config.stash[REPORT_KEY] = path
    return path


@pytest.fixture
async def drill_server(temporal_cli: str, tmp_path: Path) -> AsyncIterator[DevServer]:
    server = DevServer(temporal_cli, tmp_path / "temporal.sqlite")
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
async def drill_client(drill_server: DevServer, converter: DataConverter) -> Client:
    """A client of the drill's server with the session codec (workers share its key)."""
    return await drill_server.client(converter)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    path = config.stash.get(REPORT_KEY, None)
    if path is not None and path.exists():
        terminalreporter.write_sep("=", f"drills ({path})")
        terminalreporter.write_line(table(path))
