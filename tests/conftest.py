"""Session fixtures: one real Temporal dev server for the whole run (or --temporal-address)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment

from cli.devstack import PRIORITY_DYNAMIC_CONFIG, find_temporal
from naestro import search
from naestro.admin import ensure_search_attributes
from naestro.codec import KEYS_ENV, EncryptionCodec, data_converter, generate_key, parse_keys
from naestro.telemetry.runtime import install_runtime
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
def codec() -> Iterator[EncryptionCodec]:
    """The payload codec every test client and worker uses, as in production. Its key is
    in the environment too, so `naestro` subprocesses read and write the same payloads."""
    previous = os.environ.get(KEYS_ENV)
    os.environ[KEYS_ENV] = generate_key("test-session")
    yield EncryptionCodec(parse_keys(os.environ[KEYS_ENV]))
    if previous is None:
        del os.environ[KEYS_ENV]
    else:
        os.environ[KEYS_ENV] = previous


@pytest.fixture(scope="session")
def converter(codec: EncryptionCodec) -> DataConverter:
    return data_converter(codec)


# A retired version's drainage (draining -> drained) is re-checked every second, not every
# few minutes, so tests/rollout see it change.
VERSIONING_DYNAMIC_CONFIG = [
    "--dynamic-config-value",
    'matching.wv.VersionDrainageStatusRefreshInterval="1s"',
    "--dynamic-config-value",
    'matching.wv.VersionDrainageStatusVisibilityGracePeriod="1s"',
    *PRIORITY_DYNAMIC_CONFIG,  # as `naestro dev` runs it: task priority orders backlogs
]


@pytest.fixture(scope="session")
async def env(
    request: pytest.FixtureRequest, temporal_cli: str, converter: DataConverter
) -> AsyncIterator[WorkflowEnvironment]:
    install_runtime()  # before the first client: the session's runtime exports metrics
    address = request.config.getoption("--temporal-address")
    if address:
        client = await Client.connect(address, data_converter=converter)
        await ensure_search_attributes(client)
        yield WorkflowEnvironment.from_client(client)
        return
    environment = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli,
        search_attributes=search.ALL,
        data_converter=converter,
        dev_server_extra_args=VERSIONING_DYNAMIC_CONFIG,
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
