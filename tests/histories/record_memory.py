"""Record a TaskWorkflow history with memory on (`make histories`): recall before the plan
(a cited document and a similar past task in the plan prompt) and write-back after review,
on the memory queue, against a Postgres of its own (pgserver in a temporary directory).

Re-record only on purpose, as with record.py.
"""

from __future__ import annotations

import sys
import tempfile
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
    memory_on,
    postgres,
    recorder_main,
    recording_env,
    run_case,
    save,
)
from tests.support import make_settings, replay_provider, running_workers, write_script  # noqa: E402
from tests.workflow.scripts import PROMPT, code_task_rules  # noqa: E402

GUIDE = "House style for add(a, b): name the tests test_adds_* and keep them in test_solution.py."
RULES = [
    {"role": "planner", "contains": "Context from memory", "text": "PLAN USING MEMORY [1]"},
    *code_task_rules(),
]
CASE = Case("task_memory", TaskRequest(prompt=PROMPT, kind="code"), "succeeded")


async def main(force: bool) -> None:
    with postgres() as url, tempfile.TemporaryDirectory() as tmp:
        script = write_script(Path(tmp) / "script.jsonl", RULES)
        settings = make_settings(Path(tmp), [replay_provider(script)], memory=memory_on(url))
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
