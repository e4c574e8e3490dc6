"""What Temporal stores: a history fetched raw (no codec) holds no plaintext prompt or answer."""

from __future__ import annotations

from pathlib import Path

from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest
from temporalio.client import Client

from naestro.client import start_task
from naestro.contracts import TaskRequest
from tests.support import make_settings, replay_provider, running_workers, write_script
from tests.workflow.scripts import verdict

PROMPT = "Draft a reply to the complaint of Ms Violet Quarrington about invoice 77-AZ."
ANSWER = "Dear Ms Quarrington, we refunded invoice 77-AZ in full."


async def _raw_history(client: Client, workflow_id: str) -> bytes:
    request = GetWorkflowExecutionHistoryRequest(namespace=client.namespace)
    request.execution.workflow_id = workflow_id
    response = await client.workflow_service.get_workflow_execution_history(request)
    return response.history.SerializeToString()


async def test_raw_history_holds_no_plaintext(client: Client, tmp_path: Path) -> None:
    rules = [
        {"role": "planner", "text": "Apologise, then state the refund."},
        {"phase": "implement", "text": ANSWER},
        {"role": "judge", "text": verdict(0.95)},
    ]
    script = write_script(tmp_path / "s.jsonl", rules)
    settings = make_settings(tmp_path, [replay_provider(script)])
    async with running_workers(client, settings):
        handle = await start_task(
            client, TaskRequest(prompt=PROMPT), task_queue=settings.queues.orchestrator
        )
        result = await handle.result()
    assert result.answer == ANSWER  # the codec client reads it back
    raw = await _raw_history(client, handle.id)
    assert b"binary/encrypted" in raw
    for needle in ("Quarrington", "77-AZ", "refunded", "Apologise"):
        assert needle.encode() not in raw, needle
