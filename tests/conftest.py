"""Session fixtures: one real Temporal dev server for the whole run (or --temporal-address),
and one real Postgres + pgvector (pgserver) with a fresh database per test that asks."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment

from cli.devstack import DEV_SERVER_DYNAMIC_CONFIG, find_temporal
from naestro import db, search
from naestro.admin import ensure_search_attributes
from naestro.codec import KEYS_ENV, EncryptionCodec, data_converter, generate_key, parse_keys
from naestro.config.settings import MemoryConfig
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
    # As `naestro dev` runs it: priority and fairness, one partition a queue, read rates.
    *DEV_SERVER_DYNAMIC_CONFIG,
    # Every test's workers join one deployment version, each on queues of its own: past the
    # server's limits (100 queues a version, 1,000 a deployment) its polls fail ("something
    # went wrong, please retry") and the last tests of a run time out.
    "--dynamic-config-value",
    "matching.maxTaskQueuesInDeploymentVersion=100000",
    "--dynamic-config-value",
    "matching.maxTaskQueuesInDeployment=100000",
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


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    from naestro.pgembed import embedded_postgres  # here: only Postgres tests need it

    # Not under pytest's tmp dir: as root, pgserver runs Postgres as its own user, which
    # cannot enter /tmp/pytest-of-root (mode 0700). As `naestro dev`'s, it dies with this
    # process however it ends (a killed test run leaves no Postgres behind).
    data = Path(tempfile.mkdtemp(prefix="naestro-pg-"))
    server = embedded_postgres(data, delete=True)
    yield server
    server.cleanup()


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


@pytest.fixture
async def db_url(fresh_url: str) -> str:
    """A new database with every migration applied (the default memory settings)."""
    await db.migrate(fresh_url, MemoryConfig())
    return fresh_url
