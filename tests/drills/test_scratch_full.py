"""Drill (f): the sandbox's scratch space fills up while N code tasks verify their answers.

The bubblewrap backend makes each run's scratch (its /work, passwd, group) under the
worker's TMPDIR: here a 16 MiB tmpfs the drill mounts, fills with a file until the kernel
says ENOSPC, and empties a few seconds later. Every task must end (verified once the space
is back, or failed with a reason), never hang or retry forever."""

from __future__ import annotations

import asyncio
import errno
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

from naestro.contracts import TaskRequest
from tests.drills.effects import recorded_calls
from tests.drills.harness import code_rules, finish, scripted_settings
from tests.drills.load import Load, prompt
from tests.processes import DevServer, WorkerProcesses

TASKS = 8
DOWN_S = 4
SCRATCH_MB = 16


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A size-capped tmpfs for the worker's TMPDIR (root, as CI runs the suite)."""
    where = Path(tempfile.mkdtemp(prefix="naestro-drill-scratch-"))
    size = f"size={SCRATCH_MB}m,mode=1777"
    subprocess.run(["mount", "-t", "tmpfs", "-o", size, "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)
        where.rmdir()


def fill(where: Path) -> Path:
    """Write zeros to ``where`` until it is full; the filler's path."""
    filler = where / "filler"
    block = b"\0" * (1 << 20)
    with filler.open("wb") as out:
        try:
            while True:
                out.write(block)
                out.flush()
        except OSError as err:
            assert err.errno == errno.ENOSPC, err
    return filler


async def test_sandbox_scratch_full(
    drill_client: Client,
    drill_server: DevServer,
    scratch: Path,
    db_url: str,
    tmp_path: Path,
    drill_report: Path,
) -> None:
    log = tmp_path / "calls.jsonl"
    settings = scripted_settings(
        tmp_path, log, latency_ms=300, rules=code_rules(TASKS), sandbox={"backend": "bwrap"}
    )
    queue = settings.queues.orchestrator
    load = Load(drill_client, queue, "f sandbox scratch full", TASKS, lambda: recorded_calls(log))
    env = {"DATABASE_URL": db_url, "TMPDIR": str(scratch)}
    with WorkerProcesses(settings.source, drill_server.address, env, tmp_path / "w.log"):
        await load.start(lambda i: TaskRequest(prompt=prompt(load.drill, i), kind="code"))
        await load.until_calls(TASKS)  # plans asked: implement, then verification, next
        await load.faulted()
        filler = await asyncio.to_thread(fill, scratch)
        await asyncio.sleep(DOWN_S)  # the outage itself
        filler.unlink()
        await load.cleared()
        recovery = await load.recovery(90)
        reports = [r for i in load.ids for r in await load.verifications(i)]
        spoiled = [r for r in reports if not r.passed]  # the code is right: the fault did it
        cached = sum(r.cached for r in spoiled)
        note = f"{len(reports)} sandbox reports, {len(spoiled)} failing ({cached} from the cache)"
        await finish(load, drill_report, recovery, db_url, notes=[note])
