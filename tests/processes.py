"""Processes that tests kill: a Temporal CLI dev server on a SQLite file, `naestro worker`
subprocesses, and a Postgres of a test's own. Each runs in its own process group, and every
one still running is stopped when its test ends."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter

from naestro import search, watchdog
from tests.support import free_port

ROOT = Path(__file__).resolve().parent.parent
_SA_TYPE = {"KEYWORD": "Keyword", "INT": "Int", "DOUBLE": "Double", "BOOL": "Bool"}


class DevServer:
    """A Temporal CLI dev server process on a SQLite file, which tests may kill."""

    def __init__(self, cli: str, db: Path) -> None:
        self.cli, self.db, self.port = cli, db, free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        attrs = [
            a
            for k in search.ALL
            for a in ("--search-attribute", f"{k.name}={_SA_TYPE[k.indexed_value_type.name]}")
        ]
        self.proc = subprocess.Popen(
            [
                self.cli,
                "server",
                "start-dev",
                "--headless",
                "--ip",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--db-filename",
                str(self.db),
                "--log-level",
                "error",
                *attrs,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def kill(self) -> None:
        if self.proc is not None:
            _kill_group(self.proc)
            self.proc = None

    async def client(self, converter: DataConverter = pydantic_data_converter) -> Client:
        for _ in range(100):
            try:
                return await Client.connect(self.address, data_converter=converter)
            except RuntimeError:
                await asyncio.sleep(0.2)
        raise AssertionError(f"dev server on {self.address} never answered")


class WorkerProcesses:
    """`naestro worker` subprocesses, each in its own process group: one starts on entry,
    ``replace`` SIGKILLs it (children included) and starts another, and every one still
    running is stopped on exit. ``env``: extra environment (DATABASE_URL for memory)."""

    def __init__(
        self,
        config: str,
        address: str,
        env: Mapping[str, str] | None = None,
        log: Path | None = None,
        prefix: Sequence[str] = (),
    ) -> None:
        self.config, self.address, self.env, self.log = config, address, dict(env or {}), log
        self.prefix = list(prefix)
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> WorkerProcesses:
        self.start()
        return self

    def start(self) -> None:
        self.procs.append(spawn_worker(self.config, self.address, self.env, self.log, self.prefix))

    def kill(self) -> None:
        """SIGKILL the newest worker and everything it started."""
        _kill_group(self.procs[-1])

    def replace(self) -> None:
        self.kill()
        self.start()

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    _kill_group(proc)


def spawn_worker(
    config: str,
    address: str,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
    prefix: Sequence[str] = (),
) -> subprocess.Popen[bytes]:
    """A `naestro worker`; its output appended to ``log`` (None: discarded); ``prefix``:
    a command that runs it (in a network namespace of its own, say)."""
    environ = {**os.environ, **(env or {}), "TEMPORAL_ADDRESS": address}
    with open(log, "ab") if log else open(os.devnull, "wb") as out:
        return subprocess.Popen(
            [*prefix, sys.executable, "-m", "cli.main", "--config", config, "worker"],
            env=environ,
            cwd=ROOT,
            start_new_session=True,  # its own process group: SIGKILL takes its children too
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


class Postgres:
    """A Postgres (pgserver's binaries, with pgvector) of one test's own on a loopback TCP
    port, which the test may stop and start again on its data dir. As root it runs as
    pgserver's system user; the data dir is outside pytest's tmp dir (mode 0700)."""

    USER = "pgserver"

    def __init__(self) -> None:
        from pgserver._commands import POSTGRES_BIN_PATH

        self.bin = Path(POSTGRES_BIN_PATH)
        self.port = free_port()
        self.data = Path(tempfile.mkdtemp(prefix="naestro-drill-pg-"))
        self.data.chmod(0o755)
        self.guard: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str) -> None:
        user = self.USER if os.geteuid() == 0 else None
        subprocess.run(argv, check=True, capture_output=True, user=user, timeout=60, cwd="/")

    def init(self) -> None:
        if os.geteuid() == 0:  # as pgserver does: its user, and binaries it may run
            from pgserver import utils

            utils.ensure_user_exists(self.USER)
            utils.ensure_prefix_permissions(self.bin)
            entry = pwd.getpwnam(self.USER)
            os.chown(self.data, entry.pw_uid, entry.pw_gid)
        pgdata = str(self.data / "pgdata")
        initdb = str(self.bin / "initdb")
        self._run(initdb, "-D", pgdata, "--auth=trust", "--encoding=utf8", "-U", "postgres")

    def start(self) -> None:
        """The postmaster under a watchdog of this process (naestro/watchdog.py, as the
        embedded Postgres runs): it dies with the test run however that ends."""
        argv = [str(self.bin / "postgres"), "-D", str(self.data / "pgdata")]
        argv += ["-p", str(self.port), "-k", str(self.data), "-h", "127.0.0.1"]
        user = self.USER if os.geteuid() == 0 else None
        line = watchdog.command(os.getpid(), signal.SIGINT, argv, user=user)
        with (self.data / "log").open("ab") as log:
            self.guard = subprocess.Popen(line, stdout=log, stderr=subprocess.STDOUT, cwd="/")
        deadline = time.monotonic() + 60
        while not self._accepts():
            if self.guard.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Postgres did not start: {(self.data / 'log').read_text()}")
            time.sleep(0.05)

    def _accepts(self) -> bool:
        """Ready for connections: the port alone opens while Postgres still replays its WAL
        ("the database system is starting up"), so ask it, as pg_isready does."""
        probe = [str(self.bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]
        return subprocess.run([*probe, "-t", "1"], capture_output=True, timeout=10).returncode == 0

    def stop(self, mode: str = "fast") -> None:
        """Fast shutdown (SIGINT, through the watchdog), or ``immediate`` (SIGQUIT)."""
        guard, self.guard = self.guard, None
        if guard is None or guard.poll() is not None:
            return
        if mode == "immediate":
            pid = watchdog.read_pid(self.data / "pgdata" / "postmaster.pid")
            if pid is not None:
                os.kill(pid, signal.SIGQUIT)
        else:
            guard.send_signal(signal.SIGTERM)
        guard.wait(watchdog.STOP_GRACE_SECONDS + 5)

    def remove(self) -> None:
        """Stop it if it runs (immediate: a test is over) and delete its data."""
        self.stop("immediate")
        shutil.rmtree(self.data, ignore_errors=True)
