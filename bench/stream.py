"""Time to first token through Naestro against straight from the engine, in one run, on the
bundled real engine (llama.cpp's server).

    .venv/bin/python bench/stream.py [--model smollm2-135m] [--runs 5] [--tokens 64]

Direct: a streamed chat completion to the engine; the clock stops at the first content
delta. Naestro: a workflow makes the same request through the one call path (routing local
activity, budget reservation, the model activity on the engine's queue) with live tokens on;
the activity publishes the first piece on the workflow's stream and a watcher long-polling
that stream (naestro/watch.py's path, as the gateway's SSE does) receives it; the clock runs
from the workflow's start to that moment. Each run sends both sides the same prompt with a
fresh nonce at its head (no prompt-cache help for either), alternating which goes first.

Also measured: a whole TaskWorkflow (no planning, so implement is the first call; the PII
scan and routing before it) from start to its first token at a watcher, against the same
messages that call sent (read back from its history) sent straight to the engine.

Prints medians, the target (1.2 x direct + 150 ms) and, last, Naestro's call-path time to
first token as a share of that target (<= 1.0 meets it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from temporalio.client import Client

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.engine import SERVED, engine_stack, free_port
from bench.streampath import StreamPathWorkflow
from naestro.client import start_task
from naestro.config.settings import Settings
from naestro.contracts import ModelRequest, TaskRequest
from naestro.exit import exit_after
from naestro.watch import Cursor, follow_task

PROMPT = "Write a short poem about a lighthouse keeper and a storm."
LIVE_MS = 200


def quiet_workers() -> None:
    """Workers' routine logs (a judge's reply repaired, a retry) are not the bench's output."""
    for name in ("temporalio.activity", "temporalio.worker", "temporalio.workflow"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def settings_for(model: str, port: int, tag: str, data_dir: str, tokens: int) -> Settings:
    roles = dict.fromkeys(("planner", "implementer", "refiner", "judge"), ["engine"])
    return Settings.model_validate(
        {
            "providers": [
                {
                    "id": "engine",
                    "engine": "llamacpp",
                    "endpoint": f"http://127.0.0.1:{port}/v1",
                    "model": SERVED[model],
                    "context_window": 4096,
                    "max_concurrency": 1,
                    "task_queue": f"engine-{tag}",
                }
            ],
            "engines": [
                {
                    "id": "engine",
                    "model": f"bundled:{model}",
                    "port": port,
                    "threads": 2,
                    "context_size": 4096,
                }
            ],
            "policies": {
                "default": {
                    "roles": roles,
                    "stream": True,
                    "live_tokens_ms": LIVE_MS,
                    "plan": False,
                    "memory": False,
                    "max_output_tokens": tokens,
                }
            },
            "queues": {"orchestrator": f"orch-{tag}", "sandbox": f"sb-{tag}"},
            "deploy": {"make_current": "always"},  # its own server: its version serves
            "dev": {"data_dir": data_dir},
        }
    )


async def direct_ttft(
    settings: Settings, prompt: str, tokens: int, messages: list[dict[str, str]] | None = None
) -> float:
    p = settings.providers[0]
    body = {
        "model": p.model,
        "messages": messages or [{"role": "user", "content": prompt}],
        "max_tokens": tokens,
        "temperature": 0.0,
        "stream": True,
    }
    async with httpx.AsyncClient(timeout=600) as http:
        start = time.perf_counter()
        first = None
        async with http.stream("POST", f"{p.endpoint}/chat/completions", json=body) as reply:
            async for line in reply.aiter_lines():
                if first is None and line.startswith("data: {"):
                    delta = json.loads(line[6:])["choices"][0]["delta"]
                    if delta.get("content"):
                        first = time.perf_counter() - start
    assert first is not None, "the engine sent no content"
    return first


async def first_token(client: Client, workflow_id: str, started: float) -> float:
    updates = follow_task(client, workflow_id, Cursor())
    try:
        async for update in updates:
            if update.token is not None and update.token.text:
                return time.perf_counter() - started
    finally:
        await updates.aclose()  # stop watching: no poll left in flight
    raise RuntimeError(f"{workflow_id} ended without a token")


async def naestro_ttft(client: Client, queue: str, prompt: str, tokens: int, wid: str) -> float:
    started = time.perf_counter()
    handle = await client.start_workflow(
        StreamPathWorkflow.run, [prompt, str(tokens), str(LIVE_MS)], id=wid, task_queue=queue
    )
    ttft = await first_token(client, handle.id, started)
    await handle.result()
    return ttft


async def history_cost(
    client: Client, queue: str, prompt: str, tokens: int, wid: str, live_ms: int
) -> tuple[int, int, int]:
    """One call with live tokens at ``live_ms`` (0: off), no watcher: its history's events,
    bytes and the signals that carried tokens."""
    handle = await client.start_workflow(
        StreamPathWorkflow.run, [prompt, str(tokens), str(live_ms)], id=wid, task_queue=queue
    )
    await handle.result()
    history = await handle.fetch_history()
    signaled = "workflow_execution_signaled_event_attributes"
    signals = sum(e.HasField(signaled) for e in history.events)
    return len(history.events), sum(e.ByteSize() for e in history.events), signals


async def task_ttft(
    client: Client, settings: Settings, prompt: str
) -> tuple[float, list[dict[str, str]]]:
    """A whole task's time to first token, and the messages its first call sent."""
    started = time.perf_counter()
    handle = await start_task(
        client, TaskRequest(prompt=prompt), task_queue=settings.queues.orchestrator
    )
    ttft = await first_token(client, handle.id, started)
    await handle.result()  # let it finish: the engine serves one request at a time
    return ttft, await first_call_messages(client, handle.id)


async def first_call_messages(client: Client, workflow_id: str) -> list[dict[str, str]]:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    for event in history.events:
        scheduled = event.activity_task_scheduled_event_attributes
        if event.HasField("activity_task_scheduled_event_attributes") and (
            scheduled.activity_type.name == "naestro.model.complete"
        ):
            [request] = await client.data_converter.decode(scheduled.input.payloads, [ModelRequest])
            return [{"role": m.role, "content": m.content} for m in request.messages]
    raise RuntimeError(f"{workflow_id} made no model call")


async def main(model: str, runs: int, tokens: int) -> None:
    quiet_workers()
    tag = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_for(model, free_port(), tag, tmp, tokens)
        async with engine_stack(settings, tag, [StreamPathWorkflow]) as (client, queue):
            await direct_ttft(settings, PROMPT, tokens)  # warm both paths
            await naestro_ttft(client, queue, PROMPT, tokens, f"warm-{tag}")
            direct, naestro, task, task_direct = [], [], [], []
            for i in range(runs):
                one, other = f"[{uuid.uuid4().hex[:6]}] {PROMPT}", f"[{i}x] {PROMPT}"
                wid = f"bench-{tag}-{i}"
                if i % 2:  # alternate which side goes first
                    direct.append(await direct_ttft(settings, one, tokens))
                    naestro.append(await naestro_ttft(client, queue, other, tokens, wid))
                else:
                    naestro.append(await naestro_ttft(client, queue, other, tokens, wid))
                    direct.append(await direct_ttft(settings, one, tokens))
                ttft, sent = await task_ttft(client, settings, f"[t{i}] {PROMPT}")
                task.append(ttft)
                fresh = [  # the same messages, a fresh nonce: no prompt-cache help
                    {**m, "content": m["content"].replace(f"[t{i}]", f"[d{i}]")} for m in sent
                ]
                task_direct.append(await direct_ttft(settings, "", tokens, fresh))
            cost = {
                live: await history_cost(client, queue, PROMPT, tokens, f"h{live}-{tag}", live)
                for live in (0, LIVE_MS)
            }
    (off_events, off_bytes, _), (on_events, on_bytes, signals) = cost[0], cost[LIVE_MS]
    print(f"history_events_live_off {off_events}")
    print(f"history_events_live_on {on_events}")
    print(f"history_bytes_live_off {off_bytes}")
    print(f"history_bytes_live_on {on_bytes}")
    print(f"token_signals_per_call {signals}")
    d, n, t = statistics.median(direct), statistics.median(naestro), statistics.median(task)
    td = statistics.median(task_direct)
    target, task_target = 1.2 * d + 0.150, 1.2 * td + 0.150
    print(f"runs {runs}")
    print(f"ttft_direct_ms {d * 1000:.1f}")
    print(f"ttft_naestro_call_ms {n * 1000:.1f}")
    print(f"ttft_direct_task_prompt_ms {td * 1000:.1f}")
    print(f"ttft_naestro_task_ms {t * 1000:.1f}")
    print(f"ttft_added_ms {(n - d) * 1000:.1f}")
    print(f"ttft_ratio {n / d:.3f}")
    print(f"ttft_target_ms {target * 1000:.1f}")
    print(f"ttft_task_over_target {t / task_target:.3f}")
    print(f"ttft_call_over_target {n / target:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m", choices=sorted(SERVED))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=64)
    a = parser.parse_args()
    exit_after(lambda: asyncio.run(main(a.model, a.runs, a.tokens)))
