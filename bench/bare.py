"""The bare side of bench/overhead.py: N no-op activities one after another.

Its own side-effect-free module, so the workflow sandbox can re-import it.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn(name="bench.noop")
async def noop(i: int) -> int:
    return i


@workflow.defn(name="bench.bare")
class BareWorkflow:
    @workflow.run
    async def run(self, args: list[str]) -> int:
        calls, queue = int(args[0]), args[1]
        for i in range(calls):
            await workflow.execute_activity(
                noop, i, task_queue=queue, start_to_close_timeout=timedelta(seconds=30)
            )
        return calls
