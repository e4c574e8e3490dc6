"""The embedded dev stack: Temporal CLI dev server (SQLite) and pgserver (Postgres + pgvector).

Each part is used only when its environment variable does not point elsewhere:
TEMPORAL_ADDRESS for Temporal, DATABASE_URL (or memory.database_url_env) for Postgres.
Data lives under ``dev.data_dir`` (.naestro/), so a second start reuses it. Payloads are
encrypted by default: with no NAESTRO_CODEC_KEYS, the embedded server's client, workers and
API use the key in ``.naestro/codec.key`` (cli/devkey.py), and the Web UI decodes them
through the API's codec endpoint when one is given.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
import sys
from contextlib import AsyncExitStack
from pathlib import Path
from types import TracebackType

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from cli.devkey import use_dev_key
from naestro import search
from naestro.admin import ensure_search_attributes
from naestro.codec import KEYS_ENV, converter_from_env
from naestro.config.settings import Settings
from naestro.connect import connect
from naestro.errors import NaestroError
from naestro.telemetry.setup import install as install_telemetry

log = logging.getLogger(__name__)
TEMPORAL_CLI_MODULE = "github.com/temporalio/cli/cmd/temporal@v1.5.1"
GO_FALLBACKS = ("/usr/local/go/bin/go", "/usr/lib/go/bin/go")


class DevStackError(NaestroError):
    """The embedded stack could not start."""


# Task queue priority (Temporal's Priority: a task's priority orders its activities in every
# queue's backlog, so a foreground task's model calls wait less for a busy engine) takes the
# server's new matcher, off by default in server 1.29; docs/gpus.md says how to set it on a
# server of your own.
PRIORITY_DYNAMIC_CONFIG = ["--dynamic-config-value", "matching.useNewMatcher=true"]


def find_temporal(data_dir: Path, *, install: bool = True) -> str | None:
    """The Temporal CLI: on PATH, else under data_dir/bin (or the checkout's .naestro/bin),
    else built under data_dir/bin with Go.

    Returns None when none is found and Go is absent (temporalio can then download one).
    """
    on_path = shutil.which("temporal")
    if on_path:
        return on_path
    local = data_dir / "bin" / "temporal"
    if local.exists():
        return str(local)
    # A checkout's bootstrap builds it under the default data dir: stacks with another data
    # dir (tests, a second stack) reuse that build instead of building again.
    checkout = Path(__file__).resolve().parents[1] / ".naestro" / "bin" / "temporal"
    if checkout.exists():
        return str(checkout)
    go = shutil.which("go") or next((g for g in GO_FALLBACKS if Path(g).exists()), None)
    if not (install and go):
        return None
    log.warning("building the Temporal CLI with `go install %s` (once)", TEMPORAL_CLI_MODULE)
    local.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GOBIN": str(local.parent.resolve())}
    done = subprocess.run([go, "install", TEMPORAL_CLI_MODULE], env=env, check=False)
    if done.returncode != 0 or not local.exists():
        raise DevStackError(f"`go install {TEMPORAL_CLI_MODULE}` failed ({done.returncode})")
    return str(local)


def start_pgserver(pg_dir: Path) -> str:
    """Start (or reuse) the embedded Postgres under pg_dir; returns its URL."""
    from pgserver.postgres_server import get_server  # heavy: only for the embedded database

    pg_dir.mkdir(parents=True, exist_ok=True)
    server = get_server(str(pg_dir), cleanup_mode="stop")
    server.psql("CREATE EXTENSION IF NOT EXISTS vector;")
    uri: str = server.get_uri()
    return uri


class DevStack:
    """``async with DevStack(settings) as stack:`` yields a client and a database URL."""

    def __init__(
        self, settings: Settings, *, with_database: bool = True, codec_endpoint: str | None = None
    ) -> None:
        """``codec_endpoint``: where the Web UI decodes payloads (the API's ``/codec``)."""
        self.settings = settings
        self.data_dir = Path(settings.dev.data_dir)
        self.with_database = with_database
        self.codec_endpoint = codec_endpoint
        self.ui_url: str | None = None
        self.key_file: Path | None = None
        self.database_url: str | None = None
        self._exit = AsyncExitStack()
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            raise DevStackError("the dev stack is not started")
        return self._client

    @property
    def ui_origins(self) -> list[str]:
        """The embedded Web UI's browser origins (none with an external server)."""
        port = self.settings.dev.ui_port
        return [f"http://localhost:{port}", f"http://127.0.0.1:{port}"] if self.ui_url else []

    @property
    def payloads(self) -> str:
        """How payloads are kept, for the console (a path at most, never a key)."""
        if self.key_file:
            return f"encrypted with the dev key in {self.key_file}"
        if os.environ.get(KEYS_ENV, "").strip():
            return f"encrypted with the keys in {KEYS_ENV}"
        return f"NOT encrypted ({KEYS_ENV} unset, no dev key)"

    async def _start_temporal(self) -> Client:
        if os.environ.get("TEMPORAL_ADDRESS"):
            # Another server's keys are its operator's: use a dev key only if one exists.
            self.key_file = use_dev_key(self.data_dir, create=False)
            return await connect()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Before the first client exists: the embedded server never holds plaintext.
        self.key_file = use_dev_key(self.data_dir, create=True)
        path = await asyncio.to_thread(find_temporal, self.data_dir)
        try:
            env = await self._start_dev_server(path)
        except Exception as exc:
            raise DevStackError(
                f"could not start the Temporal dev server ({exc}). Install the Temporal CLI "
                f"(`go install {TEMPORAL_CLI_MODULE}`, or put `temporal` on PATH) or set "
                "TEMPORAL_ADDRESS to a running server."
            ) from exc
        await self._exit.enter_async_context(env)
        self.ui_url = f"http://localhost:{self.settings.dev.ui_port}"
        return env.client

    async def _start_dev_server(self, path: str | None) -> WorkflowEnvironment:
        dev = self.settings.dev
        ui_codec = ["--ui-codec-endpoint", self.codec_endpoint] if self.codec_endpoint else []
        return await WorkflowEnvironment.start_local(
            plugins=install_telemetry(),  # before the runtime's first client
            namespace=dev.namespace,
            port=dev.temporal_port,
            ui=True,
            ui_port=dev.ui_port,
            dev_server_existing_path=path,
            search_attributes=search.ALL,
            dev_server_database_filename=str(self.data_dir / "temporal.sqlite"),
            data_converter=converter_from_env(),
            dev_server_extra_args=[*ui_codec, *PRIORITY_DYNAMIC_CONFIG],
        )

    async def _start_database(self) -> str:
        from naestro.db import migrate

        env = self.settings.memory.database_url_env
        url = os.environ.get(env)
        if not url:
            url = await asyncio.to_thread(start_pgserver, self.data_dir / "pg")
            # The workers started beside the stack (memory worker) read the URL from here.
            os.environ[env] = url
        await migrate(url, self.settings.memory)
        return url

    async def __aenter__(self) -> DevStack:
        self._client = await self._start_temporal()
        await ensure_search_attributes(self._client)
        if self.with_database:
            self.database_url = await self._start_database()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._exit.aclose()


if __name__ == "__main__":
    # `python -m cli.devstack`: find or build the Temporal CLI (used by bootstrap.sh).
    found = find_temporal(Path(".naestro"))
    if found is None:
        # Nothing can be downloaded at run time here, and Debian's Go (1.19) is too old for
        # the CLI (go 1.25): say what is missing instead of failing later in every test.
        raise SystemExit(
            "no Temporal CLI and no Go >= 1.25: put `temporal` on PATH or Go in /usr/local/go"
        )
    sys.stdout.write(f"Temporal CLI: {found}\n")
