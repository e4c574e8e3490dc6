"""`naestro demo`: one task end to end on the embedded stack, with the configured providers
when they answer, else on the embedded engine (a small real model on this CPU, started and
watched by the worker's supervisor). `--scripted` plays the replay provider instead (and
says so in every output)."""

from __future__ import annotations

import asyncio

from rich.console import Console

from cli import render
from cli.devstack import DevStack
from cli.live import follow_live
from naestro.client import start_task
from naestro.config.settings import Settings
from naestro.connect import workflow_url
from naestro.contracts import Budget, TaskRequest, TaskResult
from workers.deps import Deps
from workers.engines.fallback import plan_engines, standing_in, wait_ready, without_fallback
from workers.main import run_workers, select_queues
from workers.versioning import one_machine

DEMO_PROMPT = (
    "Write a Python function rle_encode(text) that run-length encodes a string: each run of a "
    "repeated character becomes the character followed by its count, so 'aaabcc' becomes "
    "'a3b1c2' and '' stays ''. Include pytest tests."
)
SCRIPTED_POLICY = "scripted"


async def plan_run(settings: Settings, console: Console, scripted: bool) -> tuple[Settings, str]:
    """The settings and policy the demo runs with: the configured providers when the default
    policy can route, else the embedded engine; the scripted provider only when asked."""
    if scripted:
        console.print(
            "[yellow]The OFFLINE SCRIPTED demo: every model reply is scripted by the replay "
            "provider.[/]"
        )
        return without_fallback(settings), SCRIPTED_POLICY
    planned, why = await plan_engines(settings)
    if why is not None:
        engines = ", ".join(f"{e.id} ({e.model})" for e in standing_in(settings))
        console.print(
            f"No configured provider is usable ({why}).\n"
            f"Running on the embedded engine: {engines}, llama.cpp on this machine's CPU."
        )
    return planned, "default"


async def run_demo(settings: Settings, console: Console, scripted: bool = False) -> TaskResult:
    settings, policy = await plan_run(settings, console, scripted)
    settings = one_machine(settings)  # this run's workers serve its task, whatever ran before
    request = TaskRequest(
        prompt=DEMO_PROMPT,
        kind="code",
        policy=policy,
        budget=Budget(max_usd=0.5, max_refine_rounds=2),
    )
    async with DevStack(settings) as stack:  # Postgres too: the task recalls and learns
        console.print(f"Temporal UI: {stack.ui_url or '(external server)'}")
        console.print(f"Payloads: {stack.payloads}", highlight=False)
        stop = asyncio.Event()
        deps = Deps.from_settings(settings)
        workers = asyncio.create_task(
            run_workers(stack.client, deps, select_queues(settings, []), stop)
        )
        try:
            with render.progress(console, "starting the engines...") as update:
                await wait_ready(settings, update, workers.done)
            handle = await start_task(
                stack.client, request, task_queue=settings.queues.orchestrator
            )
            link = workflow_url(handle.id, stack.client.namespace, settings.dev.ui_port)
            console.print(f"task {handle.id} ({policy} policy): {link}", highlight=False)
            result = await follow_live(stack.client, handle, console)
        finally:
            stop.set()
            await workers
    render.show_result(console, result, link)
    return result
