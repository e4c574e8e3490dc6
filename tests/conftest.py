"""Session fixtures: one real Temporal dev server for the whole run (or --temporal-address)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from naestro import search
from naestro.admin import ensure_search_attributes
from naestro.devstack import find_temporal
from tests.providers.wire import WireServer

ROOT = Path(__file__).resolve().parent.parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--temporal-address",
        default=None,
        help="Use this Temporal server instead of starting a dev server.",
    )


@pytest.fixture(scope="session")
def temporal_cli() -> str:
    path = find_temporal(ROOT / ".naestro")
    assert path, "no Temporal CLI: install Go or put `temporal` on PATH"
    return path


@pytest.fixture(scope="session")
async def env(
    request: pytest.FixtureRequest, temporal_cli: str
) -> AsyncIterator[WorkflowEnvironment]:
    address = request.config.getoption("--temporal-address")
    if address:
        client = await Client.connect(address, data_converter=pydantic_data_converter)
        await ensure_search_attributes(client)
        yield WorkflowEnvironment.from_client(client)
        return
    environment = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli,
        search_attributes=search.ALL,
        data_converter=pydantic_data_converter,
    )
    try:
        yield environment
    finally:
        await environment.shutdown()


@pytest.fixture
def client(env: WorkflowEnvironment) -> Client:
    return env.client


@pytest.fixture
def wire() -> Iterator[WireServer]:
    """A loopback HTTP server speaking the providers' wire formats, with scripted replies."""
    with WireServer() as server:
        yield server
