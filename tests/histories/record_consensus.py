"""Record a consensus task's histories (the TaskWorkflow and its ConsensusWorkflow child)
for the replay gate (`make histories`).

Re-record only on purpose, as with record.py.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from naestro.contracts import TaskRequest  # noqa: E402
from tests.consensus.scripts import TASK, consensus_settings, panel, panel_roles  # noqa: E402
from tests.histories.recording import (  # noqa: E402
    PREFIX,
    Case,
    recorder_main,
    recording_env,
    run_case,
    save,
)
from tests.support import running_workers  # noqa: E402

# The parent's workflow id is its file stem: the child's id derives from it, and the replay
# test replays each file under its stem.
CASE = Case("consensus_task", TaskRequest(prompt=TASK), "succeeded")
CHILD = PREFIX + "consensus_child"


async def main(force: bool) -> None:
    async with recording_env() as env:
        with tempfile.TemporaryDirectory() as tmp:
            settings = consensus_settings(Path(tmp), panel(), panel_roles())
            async with running_workers(env.client, settings):
                handle = await run_case(env.client, settings, CASE)
                child = env.client.get_workflow_handle(f"{handle.id}-consensus-implement-0")
                save(CASE.stem, await handle.fetch_history(), force=force)
                save(CHILD, await child.fetch_history(), force=force)


if __name__ == "__main__":
    recorder_main(__doc__ or "", [CASE.stem, CHILD], main)
