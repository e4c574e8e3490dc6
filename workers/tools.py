"""The tools worker: MCP tool discovery and calls, at most `tools_concurrency` at once.

Server credentials are read by this process, from the environment variables
`tools.servers` names: deploy it where those variables are set.
"""

from __future__ import annotations

from temporalio.client import Client
from temporalio.worker import Worker

from workers.deps import Deps

TASK_QUEUE = "naestro.tools"


def build_worker(
    client: Client, deps: Deps, task_queue: str = TASK_QUEUE, max_concurrent: int = 16
) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        activities=[deps.tools.list_tools, deps.tools.call],
        max_concurrent_activities=max_concurrent,
    )
