"""A 3 MB prompt runs as a task: every payload over the threshold travels by reference."""

from __future__ import annotations

import uuid
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from naestro.client import start_task
from naestro.codec import EncryptionCodec, data_converter
from naestro.contracts import Budget, TaskRequest
from naestro.payload_store import TEMPORAL_PAYLOAD_LIMIT
from tests.payloads.helpers import (
    history_payloads,
    huge_prompt,
    references,
    storing_client,
    storing_converter,
)
from tests.replay import replayer
from tests.support import make_settings, replay_provider, running_workers, write_script

THRESHOLD = 256 * 1024
RULES = [
    {"role": "planner", "text": "1. Read the log. 2. Summarise."},
    {"role": "judge", "text": '{"verdict": "accept", "score": 0.9, "rationale": "fine"}'},
    {"text": "Worker 7 restarts after timeouts."},
]
# Room for a 3 MB prompt (about 750k tokens) in the window and the budget.
BIG_WINDOW = 4_000_000
BIG_BUDGET = Budget(max_tokens=20_000_000, max_usd=100.0)


async def test_a_3mb_prompt_runs_with_no_payload_over_the_threshold(
    env: WorkflowEnvironment, codec: EncryptionCodec, db_url: str, tmp_path: Path
) -> None:
    prompt = huge_prompt(uuid.uuid4().hex)
    request = TaskRequest(prompt=prompt, budget=BIG_BUDGET)
    (inline,) = await data_converter(codec).encode([request])
    assert inline.ByteSize() > TEMPORAL_PAYLOAD_LIMIT  # inline, Temporal would refuse it

    client = await storing_client(env, storing_converter(codec, db_url, THRESHOLD))
    script = write_script(tmp_path / "script.jsonl", RULES)
    settings = make_settings(tmp_path, [replay_provider(script, context_window=BIG_WINDOW)])
    async with running_workers(client, settings):
        handle = await start_task(client, request, task_queue=settings.queues.orchestrator)
        result = await handle.result()
    assert result.status == "succeeded", result.reason
    assert result.answer == "Worker 7 restarts after timeouts."

    history = await handle.fetch_history()
    sizes = [p.ByteSize() for p in history_payloads(history)]
    refs = references(history)
    print(  # the figures for the record (pytest -s)
        f"\ninline input {inline.ByteSize()} B; history: {len(sizes)} payloads, largest "
        f"{max(sizes)} B, {len(refs)} by reference "
        f"({sum(r.external_payloads[0].size_bytes for r in refs)} B stored)"
    )
    assert max(sizes) < THRESHOLD
    assert refs and all(r.external_payloads[0].size_bytes >= THRESHOLD for r in refs)
    started = history.events[0].workflow_execution_started_event_attributes
    assert started.input.payloads[0] in refs  # the prompt itself went by reference

    desc = await handle.describe()
    assert desc.status == WorkflowExecutionStatus.COMPLETED
    retried = {EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED, EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED}
    assert not [e for e in history.events if e.event_type in retried]
    # Replay fetches the references like a worker does: the workflow code never sees them.
    await replayer(client.data_converter).replay_workflow(history)
