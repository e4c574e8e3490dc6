"""`naestro research start|steer|status|report`: research jobs (ResearchWorkflow) from a
terminal, through the client functions the API uses too (naestro/client.py)."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import click
from pydantic import BaseModel, ValidationError
from rich.console import Console
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import WorkflowAlreadyStartedError

from cli import render
from naestro.client import (
    describe_research,
    follow_research,
    research_result,
    research_view,
    start_research,
    steer_research,
)
from naestro.config.settings import Settings
from naestro.connect import connect, workflow_url
from naestro.contracts.research import (
    ResearchRequest,
    SteerCommand,
    SteerRequest,
    StoredReport,
)
from naestro.errors import NaestroError

if TYPE_CHECKING:
    from activities.research.store import ResearchStore

console = Console()


def _run(work: Callable[[], Coroutine[Any, Any, None]]) -> None:
    from cli.main import run_async  # one clear line and exit 1 for every expected failure

    run_async(work)()


def _settings(ctx: click.Context) -> Settings:
    settings: Settings = ctx.obj["settings"]()
    return settings


def _json(model: BaseModel | dict[str, Any]) -> None:
    data = model.model_dump(mode="json") if isinstance(model, BaseModel) else model
    click.echo(json.dumps(data, indent=2))


def _say(text: str, style: str | None = None) -> None:
    render.say(console, text, style)


def _invalid(exc: ValidationError, what: str) -> NaestroError:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or what
    return NaestroError(f"invalid {what}: {field}: {first['msg']}")


@click.group("research")
def research() -> None:
    """Research jobs: a goal worked on in iterations for hours or days, steered as it runs."""


def _request(settings: Settings, **given: Any) -> ResearchRequest:
    if given["policy"] not in settings.policies:
        known = ", ".join(sorted(settings.policies))
        raise NaestroError(f"unknown policy {given['policy']!r} (known: {known})")
    budget = {k: given.pop(k) for k in ("max_usd", "max_iterations", "max_hours")}
    try:
        return ResearchRequest.model_validate(
            {**given, "budget": {k: v for k, v in budget.items() if v is not None}}
        )
    except ValidationError as exc:
        raise _invalid(exc, "research job") from None


@research.command("start")
@click.argument("goal")
@click.option("--question", "questions", multiple=True, help="A first question (repeatable).")
@click.option("--max-usd", type=float, default=None, help="Budget in USD (default 5).")
@click.option("--max-iterations", type=int, default=None, help="Most iterations (default 20).")
@click.option("--max-hours", type=float, default=None, help="Wall time in hours (default 72).")
@click.option("--cadence", type=int, default=0, show_default=True,
              help="Seconds between iterations.")  # fmt: skip
@click.option("--digest", type=int, default=0, show_default=True,
              help="Write a digest this often, in seconds (0: never).")  # fmt: skip
@click.option("--policy", default="default", show_default=True, help="Policy in temporal.yaml.")
@click.option("--tenant", default="default", show_default=True)
@click.option("--priority", type=click.IntRange(1, 5), default=3, show_default=True,
              help="1 (high) .. 5 (low).")  # fmt: skip
@click.option("--id", "job_id", default=None, help="Job id (idempotency key).")
@click.option("--wait", is_flag=True, help="Follow its progress and print the final report.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with --wait: the result).")
@click.pass_context
def start_command(
    ctx: click.Context,
    /,
    goal: str,
    questions: tuple[str, ...],
    cadence: int,
    digest: int,
    job_id: str | None,
    wait: bool,
    as_json: bool,
    **given: Any,
) -> None:
    """Start a research job on GOAL and print its id."""

    async def work() -> None:
        settings = _settings(ctx)
        request = _request(
            settings,
            goal=goal,
            questions=list(questions),
            cadence_seconds=cadence,
            digest_seconds=digest,
            **given,
        )
        client = await connect()
        try:
            handle = await start_research(
                client, request, job_id=job_id, task_queue=settings.queues.orchestrator
            )
        except WorkflowAlreadyStartedError:
            raise NaestroError(
                f"research job {job_id} has ended already: pick another --id"
            ) from None
        link = workflow_url(handle.id, client.namespace, settings.dev.ui_port)
        if as_json and not wait:
            _json({"job_id": handle.id, "url": link})
            return
        if not as_json:
            console.print(f"research job [bold]{handle.id}[/] started: {link}", highlight=False)
        if wait:
            on_event = (
                (lambda _: None) if as_json else functools.partial(render.research_event, console)
            )
            try:
                result = await follow_research(client, handle.id, on_event)
            except WorkflowFailureError as exc:
                raise NaestroError(f"research job {handle.id} failed: {exc.cause or exc}") from None
            if as_json:
                _json(result)
            else:
                render.show_research_result(console, result)

    _run(work)


def _steer_command(given: dict[str, Any], reason: str) -> SteerCommand:
    """The one action the flags name; more or fewer is an error."""
    budget = {k: given[k] for k in ("max_usd", "max_tokens", "max_iterations")}
    actions: list[dict[str, Any]] = []
    if given["add_question"] is not None:
        actions.append({"action": "add_question", "question": given["add_question"]})
    if given["drop_question"] is not None:
        actions.append({"action": "drop_question", "question_id": given["drop_question"]})
    if given["goal"] is not None:
        actions.append({"action": "redirect", "goal": given["goal"]})
    if any(v is not None for v in budget.values()):
        actions.append({"action": "budget", **budget})
    actions += [{"action": flag} for flag in ("pause", "resume", "stop") if given[flag]]
    if len(actions) != 1:
        raise NaestroError(
            "give exactly one action: --add-question, --drop-question, --goal, a budget "
            "(--max-usd/--max-tokens/--max-iterations), --pause, --resume or --stop"
        )
    try:
        return SteerRequest.model_validate({**actions[0], "reason": reason, "by": "cli"})
    except ValidationError as exc:
        raise _invalid(exc, "steering command") from None


@research.command("steer")
@click.argument("job_id")
@click.option("--add-question", default=None, help="Ask a new question.")
@click.option("--drop-question", default=None, metavar="QID", help="Drop a question (q3).")
@click.option("--goal", default=None, help="Redirect the job to a new goal.")
@click.option("--max-usd", type=float, default=None, help="New USD budget.")
@click.option("--max-tokens", type=int, default=None, help="New token budget.")
@click.option("--max-iterations", type=int, default=None, help="New iteration budget.")
@click.option("--pause", is_flag=True, help="Start no iteration until --resume.")
@click.option("--resume", is_flag=True, help="Resume a paused job.")
@click.option("--stop", is_flag=True, help="Stop now and write the final report.")
@click.option("--reason", default="", help="Why (kept with the command).")
@click.pass_context
def steer_command(ctx: click.Context, /, job_id: str, reason: str, **given: Any) -> None:
    """Steer a running job: exactly one action per command."""

    async def work() -> None:
        command = _steer_command(given, reason)
        _settings(ctx)  # the dev key, when it is the one in use
        outcome = await steer_research(await connect(), job_id, command)
        _say(f"{job_id}: {outcome.message} (applies at iteration {outcome.applies_at})")

    _run(work)


@research.command("status")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Print the view as JSON.")
@click.pass_context
def status_command(ctx: click.Context, job_id: str, as_json: bool) -> None:
    """A job's goal, status, iteration, spend against budget, questions, recent findings
    and pending steering."""

    async def work() -> None:
        _settings(ctx)
        client = await connect()
        desc = await describe_research(client, job_id)
        view = await research_view(client, job_id)
        if as_json:
            _json(view)
            return
        if desc.status not in (WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.COMPLETED):
            state = desc.status.name.lower() if desc.status else "unknown"
            _say(f"research job {job_id} has ended: {state} (as it last stood below)", "red")
        render.show_research_view(console, view)

    _run(work)


@research.command("report")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def report_command(ctx: click.Context, job_id: str, as_json: bool) -> None:
    """The final report of a finished job; for a running one, its latest digest (from
    memory, when configured), else its findings so far."""

    async def work() -> None:
        settings = _settings(ctx)
        client = await connect()
        result = await research_result(client, job_id)
        if result is not None and as_json:
            _json(result)
        elif result is not None:
            render.show_research_result(console, result)
        elif (stored := await _latest_report(settings, job_id)) is not None and as_json:
            _json(stored)
        elif stored is not None:
            render.show_research_digest(console, stored)
        else:
            await _still_running(client, job_id, as_json)

    _run(work)


async def _still_running(client: Client, job_id: str, as_json: bool) -> None:
    view = await research_view(client, job_id)
    if as_json:
        _json({"job_id": job_id, "running": True, "view": view.model_dump(mode="json")})
        return
    _say(f"research job {job_id} is still running ({view.status}, iteration {view.iteration}); "
         "no report yet.")  # fmt: skip
    render.show_research_heads(console, view)


@asynccontextmanager
async def _store(settings: Settings) -> AsyncIterator[ResearchStore | None]:
    """The research store on memory's database; None when memory is not configured."""
    from activities.research.store import ResearchStore
    from naestro import db

    url = os.environ.get(settings.memory.database_url_env)
    if not settings.memory.enabled or not url:
        yield None
        return
    pool = await db.create_pool(url, size=1)

    async def get_pool() -> Any:
        return pool

    try:
        yield ResearchStore(get_pool)
    finally:
        await pool.close()


async def _latest_report(settings: Settings, job_id: str) -> StoredReport | None:
    async with _store(settings) as store:
        return await store.latest_report(job_id) if store is not None else None


def register(main: click.Group) -> None:
    main.add_command(research)
