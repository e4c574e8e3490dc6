"""Record a consensus task's histories (the TaskWorkflow and its ConsensusWorkflow child)
for the replay gate: `.venv/bin/python tests/histories/record_consensus.py`.

Re-record only on purpose, as with record.py.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from naestro.client import start_task  # noqa: E402
from naestro.contracts import TaskRequest  # noqa: E402
from naestro.exit import exit_after  # noqa: E402
from tests.consensus.scripts import TASK, consensus_settings, panel, panel_roles  # noqa: E402
from tests.histories.recording import recording_env, save  # noqa: E402
from tests.support import running_workers  # noqa: E402


async def main() -> None:
    async with recording_env() as env:
        with tempfile.TemporaryDirectory() as tmp:
            settings = consensus_settings(Path(tmp), panel(), panel_roles())
            async with running_workers(env.client, settings):
                handle = await start_task(
                    env.client,
                    TaskRequest(prompt=TASK),
                    task_id="consensus_task",  # == the file stem: the replay test's workflow id
                    task_queue=settings.queues.orchestrator,
                )
                await handle.result()
                child = env.client.get_workflow_handle(f"{handle.id}-consensus-implement-0")
                save("consensus_task", await handle.fetch_history())
                save("consensus_child", await child.fetch_history())


if __name__ == "__main__":
    exit_after(lambda: asyncio.run(main()))
