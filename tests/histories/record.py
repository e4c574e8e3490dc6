"""Record TaskWorkflow histories for the replay gate: `make histories`.

Re-record only on purpose (a workflow change that is meant to be incompatible, guarded by
workflow.patched or a new worker deployment version); the old files must keep replaying
until no such workflow can be open anywhere.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from naestro.client import start_task  # noqa: E402
from naestro.contracts import Budget, TaskRequest  # noqa: E402
from naestro.exit import exit_after  # noqa: E402
from tests.histories.recording import recording_env, save  # noqa: E402
from tests.support import (  # noqa: E402
    make_settings,
    replay_provider,
    running_workers,
    write_script,
)
from tests.workflow.scripts import PROMPT, code_task_rules  # noqa: E402

CASES = {
    "task_code_refined": TaskRequest(prompt=PROMPT, kind="code"),
    "task_budget_exhausted": TaskRequest(prompt=PROMPT, kind="code", budget=Budget(max_tokens=400)),
}


async def main() -> None:
    async with recording_env() as env:
        with tempfile.TemporaryDirectory() as tmp:
            script = write_script(Path(tmp) / "s.jsonl", code_task_rules())
            settings = make_settings(Path(tmp), [replay_provider(script)])
            async with running_workers(env.client, settings):
                for name, request in CASES.items():
                    handle = await start_task(
                        env.client,
                        request,
                        task_id=f"{name}-recorded",
                        task_queue=settings.queues.orchestrator,
                    )
                    await handle.result()
                    save(name, await handle.fetch_history())


if __name__ == "__main__":
    exit_after(lambda: asyncio.run(main()))
