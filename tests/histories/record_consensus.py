"""Record a consensus task's histories (the TaskWorkflow and its ConsensusWorkflow child)
for the replay gate: `.venv/bin/python tests/histories/record_consensus.py`.

Re-record only on purpose, as with record.py.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from naestro import search  # noqa: E402
from naestro.client import start_task  # noqa: E402
from naestro.contracts import TaskRequest  # noqa: E402
from naestro.devstack import find_temporal  # noqa: E402
from tests.consensus.scripts import TASK, consensus_settings, panel, panel_roles  # noqa: E402
from tests.support import running_workers  # noqa: E402


def save(out: Path, name: str, history: WorkflowHistory) -> None:
    data = json.loads(history.to_json())
    (out / f"{name}.json").write_text(json.dumps(data, indent=1) + "\n")
    sys.stdout.write(f"recorded {name}: {len(history.events)} events\n")


async def main() -> None:
    out = Path(__file__).parent
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_temporal(ROOT / ".naestro"),
        search_attributes=search.ALL,
        data_converter=pydantic_data_converter,
    )
    async with env:
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
                save(out, "consensus_task", await handle.fetch_history())
                save(out, "consensus_child", await child.fetch_history())


if __name__ == "__main__":
    asyncio.run(main())
