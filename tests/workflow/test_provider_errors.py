"""Provider errors through a whole TaskWorkflow on the real dev server, over loopback HTTP:
a 429 with Retry-After is retried by Temporal after the server's delay, a 401 fails the task
at once with a message naming the provider and the status."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError

from naestro import names
from naestro.client import start_task
from naestro.config.settings import Settings
from naestro.contracts import Budget, TaskEvent, TaskRequest
from tests.providers.payloads import openai_completion, openai_error, openai_usage
from tests.providers.wire import Reply, WireServer
from tests.support import make_settings, running_workers
from tests.workflow.scripts import verdict

PATH = "/v1/chat/completions"
MODEL = "loopback-model"


def _ok(text: str) -> Reply:
    return Reply(body=openai_completion(text, model=MODEL, usage=openai_usage(20, 10)))


def _settings(tmp_path: Path, wire: WireServer, *, supervised: bool = False) -> Settings:
    provider = {"id": "gpu", "engine": "vllm", "endpoint": f"{wire.url}/v1", "model": MODEL}
    wire.serve_models(MODEL)  # the engine is up and serves the model
    # A worker supervises the engine (these tests' workers start none: the wire plays it).
    port = int(wire.url.rsplit(":", 1)[1])
    engine = {"id": "gpu", "kind": "command", "command": ["true"], "model": MODEL, "port": port}
    return make_settings(tmp_path, [provider], engines=[engine] if supervised else [])


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


async def test_a_restarting_engine_is_waited_for_not_failed_over_to_nothing(
    client: Client, tmp_path: Path, wire: WireServer
) -> None:
    # The plan call fails on both attempts (the engine died mid-call); routing then finds
    # no other provider, waits on a durable timer and routes again once it is back.
    wire.script(
        PATH,
        openai_error(503, "engine restarting"),
        openai_error(503, "engine restarting"),
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
    history = await handle.fetch_history()
    timers = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED]
    assert len(timers) == 1  # one wait, then the engine served the plan


async def test_a_loading_engine_is_waited_for_at_task_start(
    client: Client, tmp_path: Path, wire: WireServer
) -> None:
    wire.script(PATH, _ok("1. think"), _ok("the answer"), _ok(verdict(0.9)))
    settings = _settings(tmp_path, wire, supervised=True)
    loading = Reply(503, {"error": {"message": "loading model"}})
    wire.script("/v1/models", loading)  # /models answers 503 while the model loads
    async with running_workers(client, settings):
        handle = await start_task(
            client, TaskRequest(prompt="Q?"), task_queue=settings.queues.orchestrator
        )
        await asyncio.sleep(3)
        listing = {"object": "list", "data": [{"id": MODEL}]}
        wire.script("/v1/models", Reply(body=listing))  # loaded
        result = await handle.result()
        events = await handle.query(names.EVENTS_QUERY, 0, result_type=list[TaskEvent])
    assert result.status == "succeeded", result.reason
    assert any(e.type == "waiting" and "engine is starting" in e.data["reason"] for e in events)


async def test_an_engine_that_never_comes_fails_within_the_tasks_wall_time(
    client: Client, tmp_path: Path, wire: WireServer
) -> None:
    settings = _settings(tmp_path, wire, supervised=True)
    wire.script("/v1/models", Reply(503, {"error": {"message": "loading model"}}))
    async with running_workers(client, settings):
        handle = await start_task(
            client,
            TaskRequest(prompt="Q?", budget=Budget(max_wall_seconds=8)),
            task_queue=settings.queues.orchestrator,
        )
        with pytest.raises(WorkflowFailureError) as caught:
            await handle.result()
    assert "does not serve loopback-model yet (its engine is starting)" in str(caught.value.cause)


async def test_an_endpoint_nobody_here_starts_fails_at_once_when_down(
    client: Client, tmp_path: Path, wire: WireServer
) -> None:
    settings = _settings(tmp_path, wire)  # no engines: entry: the operator's own server
    wire.script("/v1/models", Reply(503, {"error": {"message": "loading model"}}))
    async with running_workers(client, settings):
        handle = await start_task(
            client, TaskRequest(prompt="Q?"), task_queue=settings.queues.orchestrator
        )
        with pytest.raises(WorkflowFailureError) as caught:
            await handle.result()
        history = await handle.fetch_history()
    assert "does not serve loopback-model (down or loading)" in str(caught.value.cause)
    assert not [e for e in history.events if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED]
