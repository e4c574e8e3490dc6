"""Record a TaskWorkflow history with memory on (`make histories`): recall before the plan
(a cited document and a similar past task in the plan prompt) and write-back after review,
on the memory queue, against a Postgres of its own (pgserver in a temporary directory).

Re-record only on purpose, as with record.py.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from activities.memory.chunking import Chunk  # noqa: E402
from activities.memory.store import NewDocument  # noqa: E402
from naestro import db  # noqa: E402
from naestro.client import start_task  # noqa: E402
from naestro.contracts import TaskRequest  # noqa: E402
from tests.histories.recording import (  # noqa: E402
    Case,
    recorder_main,
    recording_env,
    run_case,
    save,
)
from tests.support import make_settings, replay_provider, running_workers, write_script  # noqa: E402
from tests.workflow.scripts import PROMPT, code_task_rules  # noqa: E402

URL_ENV = "NAESTRO_HISTORIES_DATABASE_URL"
GUIDE = "House style for add(a, b): name the tests test_adds_* and keep them in test_solution.py."
RULES = [
    {"role": "planner", "contains": "Context from memory", "text": "PLAN USING MEMORY [1]"},
    *code_task_rules(),
]
CASE = Case("task_memory", TaskRequest(prompt=PROMPT, kind="code"), "succeeded")


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


async def main(force: bool) -> None:
    with postgres() as url, tempfile.TemporaryDirectory() as tmp:
        os.environ[URL_ENV] = url
        script = write_script(Path(tmp) / "script.jsonl", RULES)
        memory = {"enabled": True, "database_url_env": URL_ENV, "write_back_scripted": True}
        settings = make_settings(Path(tmp), [replay_provider(script)], memory=memory)
        await db.migrate(url, settings.memory)
        async with recording_env() as env, running_workers(env.client, settings) as deps:
            ingestor = await deps.memory.service.ingestor()
            doc = NewDocument("default", "docs", "style.md", GUIDE, [Chunk("", GUIDE)])
            await ingestor.add_text(doc)
            # A first, unrecorded task: the recorded one recalls it as a similar past task.
            first = await start_task(
                env.client,
                CASE.request,
                task_id=f"{CASE.stem}-first",
                task_queue=settings.queues.orchestrator,
            )
            await first.result()
            handle = await run_case(env.client, settings, CASE)
            result = await handle.result()
            if result.memory is None or not (
                result.memory.citations and result.memory.similar_tasks
            ):
                raise SystemExit(f"{CASE.stem}: recall found too little ({result.memory})")
            save(CASE.stem, await handle.fetch_history(), force=force)


if __name__ == "__main__":
    recorder_main(__doc__ or "", [CASE.stem], main)
