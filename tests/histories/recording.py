"""What the history recorders share: a dev server with plaintext payloads (so the files are
readable and replay with or without a codec), the file names of today's generation, a
throwaway Postgres, and recording one task to a file.

Histories are recorded in generations (workflows/versions.py). The files of older
generations (no prefix: recorded before the one model-call path) are frozen: no recorder
writes them again, because they are what proves that workflows started on older code still
replay where they must. Today's generation carries ``PREFIX``; its files are re-recorded on
purpose with ``--force`` (what `make histories` does), and without it a recorder refuses to
touch a file that already exists.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from cli.devstack import find_temporal
from naestro import search
from naestro.client import start_task
from naestro.config.settings import Settings
from naestro.contracts import TaskRequest, TaskResult, TaskStatusName
from naestro.exit import exit_after
from tests.support import running_workers
from workflows.versions import GENERATION

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).parent
PREFIX = f"v{GENERATION}_"  # today's generation
URL_ENV = "NAESTRO_HISTORIES_DATABASE_URL"

TaskHandle = WorkflowHandle[object, TaskResult]
Drive = Callable[[TaskHandle], Awaitable[None]]


@dataclass(frozen=True)
class Case:
    """One recorded task: its file (``PREFIX`` + name, also the workflow id, which the
    replay test takes from the file stem), its request, the status it must end with, and
    what a person does while it runs (``drive``: approvals)."""

    name: str
    request: TaskRequest
    expect: TaskStatusName
    drive: Drive | None = None

    @property
    def stem(self) -> str:
        return PREFIX + self.name


def _parse_force(description: str) -> bool:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--force",
        action="store_true",
        help=f"re-record existing {PREFIX}* files (older generations are never written)",
    )
    return bool(parser.parse_args().force)


def recorder_main(
    description: str, stems: Iterable[str], main: Callable[[bool], Coroutine[Any, Any, None]]
) -> NoReturn:
    """A recorder's entry point: ``--force``, the overwrite check, then ``main(force)``.

    It leaves through naestro/exit.py: the Temporal bridge's threads can outlive the event
    loop and abort interpreter teardown (PyGILState_Release, temporalio/sdk-python#300),
    which would fail `make histories` after every file was written."""
    force = _parse_force(description)
    check_free(stems, force)
    exit_after(lambda: asyncio.run(main(force)))


def path_for(stem: str) -> Path:
    if not stem.startswith(PREFIX):
        raise ValueError(f"{stem}: only {PREFIX}* histories are recorded; older ones are frozen")
    return OUT / f"{stem}.json"


def check_free(stems: Iterable[str], force: bool) -> None:
    """Before recording anything: refuse when a file exists and ``--force`` was not given."""
    taken = [path_for(s).name for s in stems if path_for(s).exists()]
    if taken and not force:
        raise SystemExit(f"refusing to overwrite {', '.join(taken)}: pass --force to re-record")


@contextmanager
def postgres() -> Iterator[str]:
    """A throwaway Postgres with pgvector; its URL."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR unset
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]  # made at import
        from pgserver.postgres_server import get_server

    # Not under a private (0700) parent: as root, pgserver runs Postgres as its own user.
    data = tempfile.mkdtemp(prefix="naestro-histories-pg-")
    server = get_server(data, cleanup_mode="stop")
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()
        if (Path(data) / "postmaster.pid").exists():  # pgserver may skip the stop
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=Path(data), user=server.system_user)
        shutil.rmtree(data, ignore_errors=True)


def memory_on(url: str) -> dict[str, Any]:
    """The settings' memory section for the Postgres at ``url`` (exported as URL_ENV, where
    the settings read it); scripted tasks are kept, as memory's own tests do."""
    os.environ[URL_ENV] = url
    return {"enabled": True, "database_url_env": URL_ENV, "write_back_scripted": True}


@asynccontextmanager
async def recording_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_temporal(ROOT / ".naestro"),
        search_attributes=search.ALL,
        data_converter=pydantic_data_converter,
    )
    async with env:
        yield env


def save(stem: str, history: WorkflowHistory, *, force: bool) -> None:
    path = path_for(stem)
    if path.exists() and not force:
        raise FileExistsError(f"{path.name} exists: pass --force to re-record it")
    data = json.loads(history.to_json())
    partial = path.with_suffix(".json.partial")  # a failed write leaves the old file whole
    partial.write_text(json.dumps(data, indent=1) + "\n")
    partial.replace(path)
    sys.stdout.write(f"recorded {path.name}: {len(history.events)} events\n")


async def run_case(client: Client, settings: Settings, case: Case) -> TaskHandle:
    """Run one case to its end (workers must be running) and check its status."""
    started = time.monotonic()
    handle = await start_task(
        client, case.request, task_id=case.stem, task_queue=settings.queues.orchestrator
    )
    if case.drive is not None:
        await case.drive(handle)
    result = await handle.result()
    if result.status != case.expect:
        raise SystemExit(
            f"{case.stem}: ended {result.status} ({result.reason}), expected {case.expect}:"
            " the workflow no longer takes the path this history is meant to cover"
        )
    sys.stdout.write(f"ran {case.stem} in {time.monotonic() - started:.1f}s\n")
    return handle


async def record_cases(
    client: Client, settings: Settings, cases: Iterable[Case], *, force: bool
) -> None:
    """Run each case on one set of workers for ``settings`` and save its history."""
    async with running_workers(client, settings):
        for case in cases:
            handle = await run_case(client, settings, case)
            save(case.stem, await handle.fetch_history(), force=force)
