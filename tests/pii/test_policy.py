"""The PII policy end to end: a scripted cloud provider on loopback records what it receives.

No raw PII reaches it; the user gets the originals back; a tenant that blocks, a scanner
that fails, both fail the task closed with nothing sent; new PII in an answer is flagged.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError

from naestro.client import start_task
from naestro.contracts import TaskRequest
from tests.providers.payloads import openai_completion, openai_usage
from tests.providers.wire import Reply, WireServer
from tests.support import make_settings, running_workers

PATH = "/v1/chat/completions"
KEY_ENV = "NAESTRO_TEST_POLICY_KEY"
EMAIL, PHONE = "violet.q@example.com", "(415) 555-2671"
PROMPT = f"Write a short apology to {EMAIL}; she asked us to call {PHONE}."
VERDICT = json.dumps({"verdict": "accept", "score": 0.95, "rationale": "fine"})


@pytest.fixture
def wire() -> Iterator[WireServer]:
    os.environ[KEY_ENV] = "sk-loopback-policy"
    with WireServer() as server:
        yield server
    del os.environ[KEY_ENV]


def _reply(text: str) -> Reply:
    return Reply(body=openai_completion(text, model="gpt-test", usage=openai_usage(20, 10)))


def _settings(tmp_path: Path, wire: WireServer, **pii: Any) -> Any:
    cloud = {
        "id": "cloudy",
        "engine": "openai",
        "model": "gpt-test",
        "endpoint": wire.url + "/v1",
        "api_key_env": KEY_ENV,
        "location": "cloud",
    }
    return make_settings(tmp_path, [cloud], pii=pii)


def _sent(wire: WireServer) -> str:
    return json.dumps([r.body for r in wire.requests])


async def _run(client: Client, settings: Any, tenant: str = "default") -> Any:
    async with running_workers(client, settings):
        handle = await start_task(
            client,
            TaskRequest(prompt=PROMPT, tenant=tenant),
            task_queue=settings.queues.orchestrator,
        )
        return await handle.result()


async def test_cloud_sees_placeholders_and_user_gets_originals(
    client: Client, tmp_path: Path, wire: WireServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wire.script(
        PATH,
        _reply("1. Apologise to <EMAIL_1>."),
        _reply("Dear <EMAIL_1>, sorry. We will call <PHONE_1>."),
        _reply(VERDICT),
    )
    result = await _run(client, _settings(tmp_path, wire))
    sent = _sent(wire)
    assert len(wire.requests) == 3
    assert EMAIL not in sent and "555-2671" not in sent
    assert "<EMAIL_1>" in sent and "<PHONE_1>" in sent
    assert result.answer == f"Dear {EMAIL}, sorry. We will call {PHONE}."
    assert result.output_pii == []  # the user's own PII is not "new"
    assert caplog.records  # the scan and model calls did log...
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert EMAIL not in logged and "555-2671" not in logged  # ...but never a value


async def test_new_pii_in_the_answer_is_flagged(
    client: Client, tmp_path: Path, wire: WireServer
) -> None:
    leaked = "Copy ops-lead@example.org and card 4111 1111 1111 1111."
    wire.script(PATH, _reply("plan"), _reply(leaked), _reply(VERDICT))
    result = await _run(client, _settings(tmp_path, wire))
    assert result.output_pii == ["CREDIT_CARD", "EMAIL"]
    assert result.answer == leaked  # "flag" keeps it; "redact" would replace it


async def test_new_pii_is_redacted_when_policy_says_so(
    client: Client, tmp_path: Path, wire: WireServer
) -> None:
    wire.script(PATH, _reply("plan"), _reply("Ask ops-lead@example.org."), _reply(VERDICT))
    result = await _run(client, _settings(tmp_path, wire, review_output="redact"))
    assert result.answer == "Ask <EMAIL_2>."


async def test_tenant_that_blocks_fails_closed_with_nothing_sent(
    client: Client, tmp_path: Path, wire: WireServer
) -> None:
    wire.script(PATH, _reply("never"))
    settings = _settings(tmp_path, wire, tenants={"acme": {"cloud": "block"}})
    with pytest.raises(WorkflowFailureError) as info:
        await _run(client, settings, tenant="acme")
    assert "blocks PII" in str(info.value.cause)
    assert wire.requests == []


async def test_failing_scanner_fails_closed_with_nothing_sent(
    client: Client, tmp_path: Path, wire: WireServer
) -> None:
    wire.script(PATH, _reply("never"))
    settings = _settings(tmp_path, wire, entropy_high=float("nan"))
    with pytest.raises(WorkflowFailureError) as info:
        await _run(client, settings)
    assert "PiiScanError" in repr(info.value.cause) or "PII" in str(info.value.cause)
    assert wire.requests == []
