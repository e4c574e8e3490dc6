"""Record a rollout gate's history (`make histories`): a canary of a second worker version
that the gate measures, decides to promote, and promotes once a person approves.

Two worker versions on the recorder's dev server (tests/rollout/versions.py), tasks
submitted while the gate measures. Re-record only on purpose, as with record.py.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from naestro import deployments, names  # noqa: E402
from naestro.client import start_task  # noqa: E402
from naestro.contracts import Budget, TaskRequest  # noqa: E402
from naestro.contracts.deploy import RolloutCommand, RolloutSpec, RolloutState  # noqa: E402
from naestro.contracts.rollout import GateRule  # noqa: E402
from tests.histories.recording import PREFIX, recorder_main, recording_env, save  # noqa: E402
from tests.rollout.versions import (  # noqa: E402
    GOOD,
    PROMPT,
    answers,
    serving,
    shared_queues,
    version_settings,
)

STEM = PREFIX + "rollout"
DEPLOYMENT = "naestro-recorded"
TASK = TaskRequest(prompt=PROMPT, kind="code", budget=Budget(max_refine_rounds=0))


async def main(force: bool) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        v1 = version_settings(tmp, "v1", answers(GOOD, "v1"), DEPLOYMENT)
        v2 = version_settings(tmp, "v2", answers(GOOD, "v2"), DEPLOYMENT, queues=shared_queues(v1))
        queue = v1.queues.orchestrator
        async with (
            recording_env() as env,
            serving(env.client, v1) as old,
            serving(env.client, v2, sandbox=False),
        ):
            client = env.client
            await deployments.set_current(client, old)
            spec = RolloutSpec(
                deployment=DEPLOYMENT, baseline="v1", candidate="v2", percent=50,
                rule=GateRule(min_tasks=3, look_every=3, max_tasks=12, latency_tolerance=100),
                interval_seconds=0.5,
                approval=True, by="recorder",
            )  # fmt: skip
            handle = await client.start_workflow(
                names.ROLLOUT_WORKFLOW,
                RolloutState(spec=spec),
                id=STEM,
                task_queue=queue,
                result_type=RolloutState,
            )
            for _ in range(600):
                state = await handle.query(names.ROLLOUT_STATE_QUERY, result_type=RolloutState)
                if state.phase == "awaiting_approval":
                    break
                await start_task(client, TASK, task_queue=queue)
                await asyncio.sleep(0.3)
            else:
                raise SystemExit(f"{STEM}: the gate never asked for approval: {state.reason}")
            approve = RolloutCommand(action="approve", by="recorder")
            await handle.execute_update(
                names.ROLLOUT_COMMAND_UPDATE, approve, result_type=RolloutState
            )
            final = await handle.result()
            if final.phase != "promoted":
                raise SystemExit(f"{STEM}: ended {final.phase} ({final.reason}), not promoted")
            save(STEM, await handle.fetch_history(), force=force)


if __name__ == "__main__":
    recorder_main(__doc__ or "", [STEM], main)
