"""The embedded Postgres (pgserver's binaries, with pgvector) as a child that dies with us.

pgserver starts the postmaster through ``pg_ctl``, which daemonizes it: nothing reaches it
when its starter dies, and pgserver's own stop is skipped whenever an earlier starter's
pid is still on its handle list (any that was killed). Here the postmaster runs under a
watchdog (naestro/watchdog.py) as that watchdog's child: it stops (fast shutdown) when the
process that started it ends, however it ends. The starter holds an owner lock in the data
directory: another process finding it held shares that server; finding it free, a running
postmaster there is a leftover of an earlier run, and is stopped and named in the log.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from pgserver._commands import POSTGRES_BIN_PATH
from pgserver.postgres_server import PostgresServer
from pgserver.utils import PostmasterInfo, ensure_prefix_permissions, find_suitable_socket_dir

from naestro import watchdog
from naestro.errors import NaestroError

log = logging.getLogger(__name__)
OWNER_FILE = "naestro.owner"  # in the data directory: the pid of the process that runs it
READY_SECONDS = 60.0


class EmbeddedPostgresError(NaestroError):
    """The embedded Postgres could not start."""


def _postmaster(pgdata: Path) -> PostmasterInfo | None:
    """What postmaster.pid says (None while it is absent or half written)."""
    try:
        return PostmasterInfo.read_from_pgdata(pgdata)
    except (AssertionError, ValueError, OSError):
        return None


def _running(pgdata: Path) -> PostmasterInfo | None:
    info = _postmaster(pgdata)
    if info is None or not info.is_running():
        return None
    return info if str(pgdata) in watchdog.cmdline(info.pid) else None  # ours, not a reused pid


class EmbeddedPostgres(PostgresServer):
    """pgserver's server (init, user and permissions as root, psql, URI) with our own start
    and stop. Use ``embedded_postgres()``."""

    def __init__(self, pgdata: Path, *, delete: bool = False) -> None:
        self._owner = watchdog.OwnerLock(pgdata / OWNER_FILE)
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._delete = delete
        super().__init__(pgdata, cleanup_mode="delete" if delete else "stop")

    def ensure_postgres_running(self) -> None:
        """Called by pgserver once the data directory is initialised."""
        if not self._owner.acquire():
            self._postmaster_info = self._shared()
            return
        leftover = _running(self.pgdata)
        if leftover is not None:
            log.warning(
                "stopping a leftover Postgres (pid %d) of an earlier run in %s",
                leftover.pid,
                self.pgdata,
            )
            watchdog.stop(leftover.pid, signal.SIGINT)
        self._postmaster_info = self._start()

    def _shared(self) -> PostmasterInfo:
        """The server a live owner runs (it may still be starting it)."""
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            info = _running(self.pgdata)
            if info is not None and info.status == "ready":
                log.info("sharing the Postgres (pid %d) of pid %s", info.pid, self._owner.holder())
                return info
            time.sleep(0.1)
        raise EmbeddedPostgresError(
            f"{self.pgdata}: pid {self._owner.holder()} owns it but runs no Postgres there"
        )

    def _start(self) -> PostmasterInfo:
        socket_dir = find_suitable_socket_dir(self.pgdata, self.runtime_path)
        if self.system_user is not None and socket_dir != self.pgdata:
            ensure_prefix_permissions(socket_dir)
            socket_dir.chmod(0o777)
        argv = [str(POSTGRES_BIN_PATH / "postgres"), "-D", str(self.pgdata), "-h", ""]
        argv += ["-k", str(socket_dir)]
        line = watchdog.command(os.getpid(), signal.SIGINT, argv, user=self.system_user)
        with self.log.open("ab") as out:
            self._watchdog = subprocess.Popen(line, stdout=out, stderr=subprocess.STDOUT)
        return self._ready(self._watchdog)

    def _ready(self, guard: subprocess.Popen[bytes]) -> PostmasterInfo:
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            info = _running(self.pgdata)
            if info is not None and info.status == "ready" and info.process is not None:
                if info.process.ppid() == guard.pid:
                    return info
            if guard.poll() is not None:
                break
            time.sleep(0.05)
        self._cleanup()
        tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
        raise EmbeddedPostgresError(f"Postgres in {self.pgdata} did not start:\n{tail}")

    def _cleanup(self) -> None:
        """Stop our postmaster (fast shutdown through its watchdog), at stop or at exit."""
        guard, self._watchdog = self._watchdog, None
        if guard is not None and guard.poll() is None:
            guard.send_signal(signal.SIGTERM)
            try:
                guard.wait(watchdog.STOP_GRACE_SECONDS + 5)
            except subprocess.TimeoutExpired:
                guard.kill()
                guard.wait()
        self._owner.release()
        PostgresServer._instances.pop(self.pgdata, None)
        if guard is not None and self._delete:
            shutil.rmtree(self.pgdata, ignore_errors=True)


def embedded_postgres(pg_dir: Path, *, delete: bool = False) -> EmbeddedPostgres:
    """Start (or share) the embedded Postgres under pg_dir, with pgvector; ``cleanup()``
    stops it, else it stops when this process ends. ``delete``: remove pg_dir then."""
    pgdata = pg_dir.expanduser().resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    known = PostgresServer._instances.get(pgdata)
    if isinstance(known, EmbeddedPostgres):
        return known
    server = EmbeddedPostgres(pgdata, delete=delete)
    server.psql("CREATE EXTENSION IF NOT EXISTS vector;")
    return server
