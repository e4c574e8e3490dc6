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
import shlex
import shutil
import signal
import subprocess
import sys
from contextlib import AsyncExitStack
from pathlib import Path
from types import TracebackType

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from cli.devkey import use_dev_key
from naestro import search, watchdog
from naestro.admin import ensure_search_attributes
from naestro.codec import KEYS_ENV, converter_from_env
from naestro.config.settings import Settings
from naestro.connect import connect
from naestro.errors import NaestroError
from naestro.telemetry.setup import install as install_telemetry

log = logging.getLogger(__name__)
TEMPORAL_CLI_MODULE = "github.com/temporalio/cli/cmd/temporal@v1.5.1"
TEMPORAL_PIDFILE = "temporal.pid"  # in dev.data_dir: the dev server's pid while it runs
OWNER_FILE = "dev.owner"  # in dev.data_dir: locked by the live stack that uses it
GO_FALLBACKS = ("/usr/local/go/bin/go", "/usr/lib/go/bin/go")


class DevStackError(NaestroError):
    """The embedded stack could not start."""


# Task queue priority and fairness (Temporal's Priority: a task's priority orders its
# activities in every queue's backlog, so a foreground task's model calls wait less for a busy
# engine; its fairness key, the tenant, shares each priority level's dispatch between tenants,
# so one tenant's backlog does not starve another's tasks) take the server's new matcher, off
# by default in server 1.29, and its fairness flag; enableMigration drains a backlog queued
# before fairness was on. docs/gpus.md and docs/operations.md say how to set them on a server
# of your own.
PRIORITY_DYNAMIC_CONFIG = [
    arg
    for flag in ("useNewMatcher", "enableFairness", "enableMigration")
    for arg in ("--dynamic-config-value", f"matching.{flag}=true")
]
# One partition a task queue: priority and fairness order each partition's backlog, and a
# queue's default 4 partitions deal tasks out at random, so on one machine priority and
# fairness would hold only roughly (tests/test_fairness.py saw a tenant served 2nd or 16th).
# Partitions spread a queue's load over a cluster's matching hosts; the embedded server has
# one. A cluster of your own keeps its partitions (docs/operations.md).
PARTITION_DYNAMIC_CONFIG = [
    arg
    for side in ("Read", "Write")
    for arg in ("--dynamic-config-value", f"matching.numTaskqueue{side}Partitions=1")
]

# The dev server runs one history shard, and each of its task queues (transfer: workflow and
# activity tasks; timer; visibility) reads new tasks at most 20 times a second a shard by
# default: past the first burst, every activity and workflow task waits ~40 ms to be read
# (bench/overhead.py: 90 ms per no-op activity, 14 ms with this). A cluster spreads that
# limit over hundreds of shards; it guards no durability (docs/testing.md, Benchmarks).
QUEUE_READ_DYNAMIC_CONFIG = [
    arg
    for queue in ("transfer", "timer", "visibility", "outbound")
    for arg in ("--dynamic-config-value", f"history.{queue}ProcessorMaxPollRPS=10000")
]
# How `naestro dev` (and the tests and benchmarks, as it) run the embedded dev server.
DEV_SERVER_DYNAMIC_CONFIG = [
    *PRIORITY_DYNAMIC_CONFIG,
    *PARTITION_DYNAMIC_CONFIG,
    *QUEUE_READ_DYNAMIC_CONFIG,
]
# The dev server's SQLite file in write-ahead-log mode: one fsync a commit instead of the
# rollback journal's several, as durable (bench/overhead.py: 28 -> 16 ms a no-op activity).
SQLITE_FILE_ARGS = ["--sqlite-pragma", "journal_mode=wal"]


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
    """Start (or share, when a live `naestro dev` runs it) the embedded Postgres under
    pg_dir, a child that stops when this process ends; returns its URL."""
    from naestro.pgembed import embedded_postgres  # heavy: only for the embedded database

    uri: str = embedded_postgres(pg_dir).get_uri()
    return uri


def supervised_temporal(data_dir: Path, temporal: str) -> str:
    """An executable the SDK starts as the Temporal CLI: it runs the real one under a
    watchdog of the SDK's process (naestro/watchdog.py), which stops the dev server when
    that process ends, even by SIGKILL, and records its pid for the next start."""
    line = watchdog.command(0, signal.SIGINT, [temporal], pidfile=data_dir / TEMPORAL_PIDFILE)
    line[line.index("--parent") + 1] = "$PPID"  # the process that starts the script
    quoted = " ".join(a if a == "$PPID" else shlex.quote(a) for a in line)
    script = data_dir / "bin" / "temporal-supervised"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(f'#!/bin/sh\nexec {quoted} "$@"\n')
    script.chmod(0o755)
    return str(script)


def sqlite_file(data_dir: Path) -> Path:
    """The dev server's database, absolute: its command line names it so, for the next start."""
    return (data_dir / "temporal.sqlite").resolve()


def stop_leftovers(data_dir: Path) -> list[int]:
    """Stop an earlier run's Temporal dev server on this data dir (its recorded pid, or any
    process serving its SQLite file) and say so; the caller holds the data dir's lock, so
    no live stack owns them. The embedded Postgres does the same for itself (pgembed)."""
    database = str(sqlite_file(data_dir))
    found = set(watchdog.naming(database))
    recorded = watchdog.read_pid(data_dir / TEMPORAL_PIDFILE)
    if recorded is not None and database in watchdog.cmdline(recorded):
        found.add(recorded)
    for pid in sorted(found):
        log.warning(
            "stopping a leftover Temporal dev server (pid %d) of an earlier run in %s",
            pid,
            data_dir,
        )
        watchdog.stop(pid, signal.SIGINT)
    return sorted(found)


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
        if path is not None:
            path = supervised_temporal(self.data_dir, path)
        try:
            env = await self._start_dev_server(path)
        except Exception as exc:
            raise DevStackError(
                f"could not start the Temporal dev server ({exc}). Install the Temporal CLI "
                f"(`go install {TEMPORAL_CLI_MODULE}`, or put `temporal` on PATH) or set "
                "TEMPORAL_ADDRESS to a running server."
            ) from exc
        self._exit.push_async_callback(
            self._stop_dev_server, env, watchdog.read_pid(self.data_dir / TEMPORAL_PIDFILE)
        )
        self.ui_url = f"http://localhost:{self.settings.dev.ui_port}"
        return env.client

    @staticmethod
    async def _stop_dev_server(env: WorkflowEnvironment, server: int | None) -> None:
        """Stop it, and wait until it has ended: the SDK may stop only its watchdog, which
        the server outlives for its own graceful shutdown."""
        await env.shutdown()
        if server is not None:
            await asyncio.to_thread(watchdog.finish, server)

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
            dev_server_database_filename=str(sqlite_file(self.data_dir)),
            data_converter=converter_from_env(),
            dev_server_extra_args=[*ui_codec, *DEV_SERVER_DYNAMIC_CONFIG, *SQLITE_FILE_ARGS],
        )

    async def _start_database(self) -> str:
        from naestro.db import migrate

        env = self.settings.memory.database_url_env
        url = os.environ.get(env)
        if not url:
            from naestro.pgembed import embedded_postgres  # heavy: only for the embedded one

            server = await asyncio.to_thread(embedded_postgres, self.data_dir / "pg")
            self._exit.push_async_callback(asyncio.to_thread, server.cleanup)
            url = str(server.get_uri())
            # The workers started beside the stack (memory worker) read the URL from here.
            os.environ[env] = url
        await migrate(url, self.settings.memory)
        return url

    def _own_data_dir(self) -> None:
        """Lock the data dir for this stack's life (the kernel drops the lock however we
        end); then whatever an earlier run left serving it is a leftover: stop it."""
        owner = watchdog.OwnerLock(self.data_dir / OWNER_FILE)
        if not owner.acquire():
            raise DevStackError(
                f"{self.data_dir} is in use by another `naestro dev` (pid {owner.holder()}): "
                "stop it, or give this one another dev.data_dir"
            )
        self._exit.callback(owner.release)
        if not os.environ.get("TEMPORAL_ADDRESS"):
            stop_leftovers(self.data_dir)

    async def __aenter__(self) -> DevStack:
        try:
            self._own_data_dir()
            self._client = await self._start_temporal()
            await ensure_search_attributes(self._client)
            if self.with_database:
                self.database_url = await self._start_database()
        except BaseException:
            await self._exit.aclose()  # what did start stops again
            raise
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
