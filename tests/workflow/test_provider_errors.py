"""Provider errors through a whole TaskWorkflow on the real dev server, over loopback HTTP:
a 429 with Retry-After is retried by Temporal after the server's delay, a 401 fails the task
at once with a message naming the provider and the status."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError

from naestro.client import start_task
from naestro.config.settings import Settings
from naestro.contracts import TaskRequest
from tests.providers.payloads import openai_completion, openai_error, openai_usage
from tests.providers.wire import Reply, WireServer
from tests.support import make_settings, running_workers
from tests.workflow.scripts import verdict

PATH = "/v1/chat/completions"
MODEL = "loopback-model"


def _ok(text: str) -> Reply:
    return Reply(body=openai_completion(text, model=MODEL, usage=openai_usage(20, 10)))


def _settings(tmp_path: Path, wire: WireServer) -> Settings:
    provider = {"id": "gpu", "engine": "vllm", "endpoint": f"{wire.url}/v1", "model": MODEL}
    wire.serve_models(MODEL)  # the engine is up and serves the model
    return make_settings(tmp_path, [provider])


async def test_429_with_retry_after_is_retried(
    client: Client, tmp_path: Path, wire: WireServer
) -> None:
    wire.script(
        PATH,
        openai_error(429, "slow down", {"Retry-After": "1"}),
        _ok("1. think"),
        _ok("the answer"),
        _ok(verdict(0.9)),
    )
    settings = _settings(tmp_path, wire)
    async with running_workers(client, settings):
        handle = await start_task(
            client, TaskRequest(prompt="Q?"), task_queue=settings.queues.orchestrator
        )
        result = await handle.result()
    assert result.status == "succeeded", result.reason
    assert result.answer == "the answer"
    assert len(wire.requests) == 4  # the planner's call twice, then implement and review
    history = await handle.fetch_history()
    started = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    assert started[0] == 2  # the plan call succeeded on its second attempt
    assert [c.input_tokens for c in result.trace] == [20, 20, 20]


async def test_401_fails_the_task_at_once_naming_provider_and_status(
    client: Client, tmp_path: Path, wire: WireServer
) -> None:
    wire.script(PATH, openai_error(401, "invalid api key"))
    settings = _settings(tmp_path, wire)
    async with running_workers(client, settings):
        handle = await start_task(
            client, TaskRequest(prompt="Q?"), task_queue=settings.queues.orchestrator
        )
        with pytest.raises(WorkflowFailureError) as caught:
            await handle.result()
    message = str(caught.value.cause)
    assert "'gpu'" in message and "401" in message and "invalid api key" in message
    assert len(wire.requests) == 1  # not retried
