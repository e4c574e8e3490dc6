"""Memory never carries raw PII to a provider: recall is asked with the redacted prompt,
and what it returns (ingested documents, past tasks) is masked. Every check reads the bytes
that were sent: the recall activity's input in the history (decrypted) and the requests
the scripted provider received."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from temporalio.client import Client, WorkflowHandle
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

from activities.memory.activity import MemoryActivities
from activities.memory.chunking import Chunk
from activities.memory.service import MemoryService
from activities.memory.store import NewDocument
from naestro.client import start_task
from naestro.codec import EncryptionCodec
from naestro.config.settings import Settings
from naestro.contracts import PolicySpec, TaskRequest
from naestro.contracts.memory import RecallRequest, WriteBackRequest
from naestro.pii import redact, scan
from tests.memory.recall_probe import Probe, RecallProbe
from tests.support import make_settings, replay_provider, running_workers, write_script
from tests.workflow.scripts import verdict
from workers.runner import workflow_runner

# The prompt's PII, and other people's PII in an ingested document.
ASKER, ASKER_PHONE = "jane.roe@example.org", "+1 415 555 0142"
PROMPT = f"Draft the refund policy reply for {ASKER} (phone {ASKER_PHONE})."
DOC_EMAIL, DOC_PHONE = "sam.lee@contoso.example", "+1 212 555 0187"
GUIDE = (
    f"Refund policy reply: escalate refunds over $500 to the billing lead {DOC_EMAIL}, "
    f"phone {DOC_PHONE}. Reply within two business days."
)
RAW = [ASKER, ASKER_PHONE, DOC_EMAIL, DOC_PHONE]


async def _ingest_guide(service: MemoryService) -> None:
    ingestor = await service.ingestor()
    await ingestor.add_text(NewDocument("default", "docs", "refunds.md", GUIDE, [Chunk("", GUIDE)]))


def _settings(tmp_path: Path, url_env: str, record: Path) -> Settings:
    rules = [{"role": "planner", "text": "1. Reply."}, {"role": "judge", "text": verdict(0.9)},
             {"text": "Done."}]  # fmt: skip
    script = write_script(tmp_path / "script.jsonl", rules)
    return make_settings(
        tmp_path,
        [replay_provider(script, record=str(record))],
        memory={"enabled": True, "database_url_env": url_env, "write_back_scripted": True},
    )


async def _recall_input(handle: WorkflowHandle[object, object], codec: EncryptionCodec) -> bytes:
    """The recall activity's input as the history holds it, decrypted: what memory was sent."""
    sent = b""
    async for event in handle.fetch_history_events():
        attrs = event.activity_task_scheduled_event_attributes
        if attrs.activity_type.name == "naestro.memory.recall":
            sent += b"".join(p.data for p in await codec.decode(attrs.input.payloads))
    assert sent, "no recall activity was scheduled"
    return sent


async def test_recall_masks_pii_in_documents_and_in_past_tasks(service: MemoryService) -> None:
    await _ingest_guide(service)
    past = WriteBackRequest(
        task_id="task-past", prompt="Refund policy reply for <EMAIL_1>", plan="Mail <EMAIL_1>.",
        status="succeeded", answer="Refund policy reply sent.",
    )  # fmt: skip
    await service.write_back(past)
    activities = MemoryActivities(service)
    context = await ActivityEnvironment().run(
        activities.recall, RecallRequest(prompt="Refund policy reply for <EMAIL_1>")
    )
    sent = context.model_dump_json()
    assert any("refunds.md" in h.citation for h in context.hits)
    assert all(raw not in sent for raw in RAW)
    assert "billing lead [EMAIL], phone [PHONE]" in sent
    # Another task's placeholders are neutralised: restore() must never fill them.
    assert context.similar[0].prompt == "Refund policy reply for [EMAIL]"
    assert context.similar[0].plan == "Mail [EMAIL]."
    assert "<EMAIL_1>" not in sent


async def test_task_sends_memory_no_raw_prompt_and_providers_no_retrieved_pii(
    client: Client, codec: EncryptionCodec, tmp_path: Path, service: MemoryService,
    url_env: str,
) -> None:  # fmt: skip
    await _ingest_guide(service)
    record = tmp_path / "received.jsonl"
    settings = _settings(tmp_path, url_env, record)
    async with running_workers(client, settings):
        handle = await start_task(
            client, TaskRequest(prompt=PROMPT), task_queue=settings.queues.orchestrator
        )
        result = await handle.result()
        recalled = await _recall_input(handle, codec)
    assert result.status == "succeeded", result.reason
    assert result.memory is not None and any("refunds.md" in c for c in result.memory.citations)
    assert b"refund policy reply" in recalled
    assert all(raw.encode() not in recalled for raw in RAW)
    received = record.read_text()
    plan = json.loads(received.splitlines()[0])
    assert "billing lead [EMAIL], phone [PHONE]" in json.dumps(plan)
    assert DOC_EMAIL not in received and DOC_PHONE not in received


async def test_recall_step_asks_memory_with_the_tasks_placeholders(
    client: Client, codec: EncryptionCodec, tmp_path: Path, url_env: str
) -> None:
    settings = _settings(tmp_path, url_env, tmp_path / "unused.jsonl")
    spec = PolicySpec(name="default", routes={}, memory_task_queue=settings.queues.memory)
    probe = Probe(spec=spec, request=TaskRequest(prompt=PROMPT), pii=redact(PROMPT, scan(PROMPT)))
    queue = f"probe-{uuid.uuid4().hex[:8]}"
    async with (
        running_workers(client, settings),
        Worker(
            client, task_queue=queue, workflows=[RecallProbe], workflow_runner=workflow_runner()
        ),
    ):
        handle = await client.start_workflow(
            RecallProbe.run, probe, id=f"probe-{uuid.uuid4()}", task_queue=queue
        )
        await handle.result()
        recalled = await _recall_input(handle, codec)
    assert b"for <EMAIL_1> (phone <PHONE_1>)" in recalled
    assert all(raw.encode() not in recalled for raw in RAW)
