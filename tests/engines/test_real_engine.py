"""The real SmolLM2-135M on llama.cpp's server, started by the worker's engine supervisor:
a task completes through TaskWorkflow on it, and one whose engine is SIGKILLed mid-call
still completes after the supervisor restarts it (the worker stops polling the engine's
queue while it is down; the retried call waits for it)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client, WorkflowHandle

from activities.routing.activity import RoutingActivities
from naestro.client import start_task
from naestro.config.settings import Settings
from naestro.contracts import Budget, CallRouteRequest, ChatMessage, TaskRequest, TaskResult
from tests.support import free_port, make_settings
from workers.deps import Deps
from workers.engines.fallback import wait_ready
from workers.main import run_workers, select_queues

MODEL = "smollm2-135m-instruct"
PROMPT = "What is the capital of France? Answer in one short sentence."
# A real model on 2 shared cores: generous, as the engine's calls are real work.
pytestmark = pytest.mark.timeout(600)


def _settings(tmp_path: Path) -> Settings:
    port = free_port()
    provider = {
        "id": "smol",
        "engine": "llamacpp",
        "endpoint": f"http://127.0.0.1:{port}/v1",
        "model": MODEL,
        "context_window": 4096,
        "max_concurrency": 1,
    }
    engine = {
        "id": "smol",
        "kind": "llamacpp",
        "model": "bundled:smollm2-135m",
        "port": port,
        "context_size": 4096,
        "threads": 2,
        "restart_backoff_seconds": 0.5,
    }
    policy = {"max_output_tokens": 96, "routing": {"call_attempts": 3}}
    data_dir = tmp_path / "data"
    return make_settings(
        tmp_path, [provider], policy, engines=[engine], dev={"data_dir": str(data_dir)}
    )


@asynccontextmanager
async def engine_workers(client: Client, settings: Settings) -> AsyncIterator[None]:
    stop = asyncio.Event()
    deps = Deps.from_settings(settings)
    running = asyncio.create_task(run_workers(client, deps, select_queues(settings, []), stop))
    try:
        await wait_ready(settings, lambda _: None, running.done)
        yield
    finally:
        stop.set()
        await asyncio.wait_for(running, 60)


def _engine_state(settings: Settings) -> dict[str, object]:
    path = Path(settings.dev.data_dir) / "engines" / "smol.json"
    state: dict[str, object] = json.loads(path.read_text())
    return state


async def _start(client: Client, settings: Settings) -> WorkflowHandle[object, TaskResult]:
    request = TaskRequest(prompt=PROMPT, budget=Budget(max_refine_rounds=0))
    return await start_task(client, request, task_queue=settings.queues.orchestrator)


def _real_calls(result: TaskResult) -> None:
    assert result.trace, "no model call was made"
    assert all(c.provider == "smol" and not c.scripted for c in result.trace)
    assert all(c.input_tokens > 0 and c.output_tokens > 0 for c in result.trace)


async def test_a_task_completes_on_the_real_engine(client: Client, tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    async with engine_workers(client, settings):
        result = await (await _start(client, settings)).result()
    assert result.status in ("succeeded", "unverified"), result.reason
    assert result.verdict is not None  # the judge's reply matched the schema (or its repair)
    _real_calls(result)
    assert _engine_state(settings)["state"] == "stopped"  # drained and stopped with the worker


async def test_engine_killed_mid_call_is_restarted_and_the_task_completes(
    client: Client, tmp_path: Path
) -> None:
    settings = _settings(tmp_path)
    async with engine_workers(client, settings):
        handle = await _start(client, settings)
        first_pid = await _pid_during_a_call(handle, settings)
        os.kill(first_pid, signal.SIGKILL)
        result = await handle.result()
        state = _engine_state(settings)
    assert result.status in ("succeeded", "unverified"), result.reason
    _real_calls(result)
    assert state["restarts"] == 1 and state["pid"] not in (None, first_pid)


async def _pid_during_a_call(handle: WorkflowHandle[object, TaskResult], settings: Settings) -> int:
    """The engine's pid while a model call runs on it (the activity has started)."""
    for _ in range(600):
        desc = await handle.describe()
        started = [
            a
            for a in desc.raw_description.pending_activities
            if a.activity_type.name == "naestro.model.complete"
            and a.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
        ]
        pid = _engine_state(settings).get("pid")
        if started and isinstance(pid, int):
            return pid
        await asyncio.sleep(0.05)
    raise AssertionError("no model call started")


async def test_routing_counts_prompts_with_the_engines_own_tokenizer(
    client: Client, tmp_path: Path
) -> None:
    settings = _settings(tmp_path)
    messages = [ChatMessage(role="user", content=PROMPT)]
    ask = CallRouteRequest(
        policy="default", role="implementer", phase="implement", messages=messages
    )
    async with engine_workers(client, settings):
        route = await RoutingActivities(settings).route(ask)
    assert route.token_counter == "engine:llamacpp"
    # SmolLM2's BPE: the 60-character prompt is ~13 tokens (+4 framing), not 60 bytes.
    assert 8 < route.prompt_tokens < 30
    assert route.prompt_tokens_max < len(PROMPT.encode()) + 32
