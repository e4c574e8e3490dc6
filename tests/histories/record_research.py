"""Record a research job's first run (`make histories`): an iteration, its cadence timer
woken by a steering update (a new question), a second iteration, then continue-as-new.
Memory and the research store on a Postgres of their own (pgserver in a temporary
directory). The job goes on in a second run, which a stop ends with its report; only the
first run is kept (ResearchWorkflow auto-upgrades, so this history must replay on every
later version: tests/test_replay.py).

Re-record only on purpose, as with record.py.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from temporalio.api.enums.v1 import EventType  # noqa: E402

from naestro import db  # noqa: E402
from naestro.client import start_research  # noqa: E402
from naestro.contracts.research import ResearchRequest  # noqa: E402
from tests.histories.recording import (  # noqa: E402
    PREFIX,
    memory_on,
    postgres,
    recorder_main,
    recording_env,
    save,
)
from tests.research.jobs import (  # noqa: E402
    GOAL,
    QUESTIONS,
    add_document,
    rules,
    runs,
    steer,
    wait_view,
)
from tests.support import make_settings, replay_provider, running_workers, write_script  # noqa: E402

STEM = PREFIX + "research"
REQUEST = ResearchRequest(
    goal=GOAL,
    questions=QUESTIONS[:1],
    questions_per_iteration=1,
    iterations_per_run=2,
    cadence_seconds=3600,  # the steering update ends the wait
)


async def main(force: bool) -> None:
    with postgres() as url, tempfile.TemporaryDirectory() as tmp:
        script = write_script(Path(tmp) / "script.jsonl", rules())
        settings = make_settings(Path(tmp), [replay_provider(script)], memory=memory_on(url))
        await db.migrate(url, settings.memory)
        async with recording_env() as env, running_workers(env.client, settings) as deps:
            await add_document(deps)
            client = env.client
            handle = await start_research(
                client, REQUEST, job_id=STEM, task_queue=settings.queues.orchestrator
            )
            await wait_view(handle, lambda v: v.iteration == 1 and v.status == "waiting")
            await steer(handle, action="add_question", question=QUESTIONS[1], by="recorder")
            await wait_view(handle, lambda v: v.run == 2 and v.status == "waiting")
            await steer(handle, action="stop", by="recorder")
            result = await handle.result()
            if (result.stop_reason, result.iterations, result.runs) != ("stopped", 2, 2):
                raise SystemExit(f"{STEM}: ended {result.stop_reason} after {result.iterations}")
            first = (await runs(client, STEM))[0]
            ended = first.events[-1].event_type
            if ended != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
                raise SystemExit(f"{STEM}: the first run ended {EventType.Name(ended)}")
            save(STEM, first, force=force)


if __name__ == "__main__":
    recorder_main(__doc__ or "", [STEM], main)
