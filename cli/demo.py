"""`naestro demo`: one task end to end on the embedded stack, with real providers when they
answer, else on the scripted replay provider (and it says so)."""

from __future__ import annotations

import asyncio

from rich.console import Console

from activities.routing.activity import RoutingActivities
from cli import render
from cli.devstack import DevStack
from naestro.client import follow, start_task
from naestro.config.settings import Settings
from naestro.connect import workflow_url
from naestro.contracts import Budget, RouteRequest, TaskRequest, TaskResult
from naestro.errors import NaestroError
from workers.deps import Deps
from workers.main import run_workers, select_queues

DEMO_PROMPT = (
    "Write a Python function is_palindrome(text) that ignores case, spaces and punctuation, "
    "with pytest tests."
)
SCRIPTED_POLICY = "scripted"


async def choose_policy(settings: Settings, console: Console) -> str:
    try:
        await RoutingActivities(settings).resolve(
            RouteRequest(policy="default", roles=["planner", "implementer", "judge"])
        )
        return "default"
    except NaestroError as exc:
        if SCRIPTED_POLICY not in settings.policies:
            raise
        console.print(
            f"[yellow]No configured provider is usable ({exc}).[/]\n"
            "[yellow]Running the OFFLINE SCRIPTED demo: every model reply is "
            "scripted by the replay provider.[/]"
        )
        return SCRIPTED_POLICY


async def run_demo(settings: Settings, console: Console) -> TaskResult:
    policy = await choose_policy(settings, console)
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
            handle = await start_task(
                stack.client, request, task_queue=settings.queues.orchestrator
            )
            link = workflow_url(handle.id, stack.client.namespace, settings.dev.ui_port)
            console.print(f"task {handle.id} ({policy} policy): {link}", highlight=False)
            with console.status("starting...") as status:
                result = await follow(handle, lambda v: status.update(render.progress_line(v)))
        finally:
            stop.set()
            await workers
    render.show_result(console, result, link)
    return result
