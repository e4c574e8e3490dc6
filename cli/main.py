"""The `naestro` command line."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO, TypeVar

import click
from pydantic import ValidationError
from rich.console import Console
from temporalio.client import WorkflowFailureError

from cli import render
from cli.devkey import use_dev_key
from cli.gateway import api_command, keys_group, local_api_url
from cli.live import follow_live
from naestro.client import (
    NoWorkerError,
    cancel_task,
    describe_status,
    query_status,
    start_task,
    state_name,
    task_ending,
    task_handle,
    task_id_problem,
)
from naestro.config.settings import Settings, load_settings, policy_for
from naestro.connect import connect, workflow_url
from naestro.contracts import TaskRequest
from naestro.contracts.text import prompt_problem
from naestro.contracts.verify import VerifySpec
from naestro.errors import NaestroError
from naestro.exit import exit_after

if TYPE_CHECKING:
    from cli.devstack import DevStack

console = Console()
err_console = Console(stderr=True)
T = TypeVar("T")


def _fail(message: str, code: int = 1) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(code)


def run_async(fn: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., T | None]:
    """Run an async command; every expected failure becomes one clear line and exit 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T | None:
        try:
            return asyncio.run(fn(*args, **kwargs))
        except NaestroError as exc:
            _fail(str(exc))
        except WorkflowFailureError as exc:
            _fail(f"task failed: {exc.cause or exc}")
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        return None

    return wrapper


def _settings(ctx: click.Context) -> Settings:
    settings: Settings = ctx.obj["settings"]()
    return settings


def _validation_message(exc: ValidationError) -> str:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "request"
    return f"invalid task: {field}: {first['msg']}"


@click.group()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Naestro settings file (default: $NAESTRO_CONFIG or ./temporal.yaml).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log at INFO level.")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, verbose: bool) -> None:
    """Naestro: durable multi-model LLM orchestration on Temporal."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )

    @functools.cache
    def settings() -> Settings:
        try:
            loaded = load_settings(config_path)
            # Every command that talks to Temporal loads settings first: with no key in
            # the environment, it shares the dev stack's key when that exists.
            use_dev_key(Path(loaded.dev.data_dir), create=False)
            return loaded
        except NaestroError as exc:
            _fail(str(exc), 2)
            raise  # unreachable: _fail exits

    ctx.obj = {"settings": settings}


def _read_prompt(prompt: str | None, prompt_file: TextIO | None) -> str:
    """PROMPT, stdin (PROMPT `-`) or --prompt-file: a long prompt does not fit in argv."""
    if (prompt is None) == (prompt_file is None):
        raise NaestroError("give the prompt as PROMPT (`-` reads stdin) or --prompt-file, once")
    if prompt_file is not None:
        return prompt_file.read()
    assert prompt is not None
    return sys.stdin.read() if prompt == "-" else prompt


def _task_request(
    settings: Settings, fields: dict[str, Any], budget: dict[str, Any]
) -> TaskRequest:
    """The request the flags describe; refused before anything starts by the rules the API
    applies too: the prompt's text (prompt_problem), api.max_prompt_chars and a policy the
    settings name."""
    if problem := prompt_problem(fields["prompt"]):
        raise NaestroError(f"invalid task: prompt: {problem}")
    if refusal := settings.api.prompt_refusal(fields["prompt"]):
        raise NaestroError(refusal)
    if refusal := settings.policy_refusal(fields["policy"]):
        raise NaestroError(refusal)
    fields = {**fields, "policy": policy_for(fields["policy"])}
    overrides = {k: v for k, v in budget.items() if v is not None}
    try:
        return TaskRequest.model_validate(
            {**fields, "budget": {**settings.budget.model_dump(), **overrides}}
        )
    except ValidationError as exc:
        raise NaestroError(_validation_message(exc)) from None


@main.command()
@click.argument("prompt", required=False)
@click.option(
    "--prompt-file",
    type=click.File("r", encoding="utf-8"),
    default=None,
    help="Read the prompt from this file ('-': stdin) instead of PROMPT.",
)
@click.option("--kind", type=click.Choice(["code", "math", "general"]), default="general")
@click.option(
    "--policy",
    default="default",
    show_default=True,
    help="Policy in temporal.yaml ('auto': the default one); an unknown one is refused.",
)
@click.option("--priority", type=int, default=3, show_default=True, help="1 (high) .. 5 (low).")
@click.option("--tenant", default="default", show_default=True)
@click.option("--max-usd", type=float, default=None, help="Budget in USD.")
@click.option("--max-tokens", type=int, default=None, help="Budget in tokens.")
@click.option("--max-rounds", type=int, default=None, help="Most refine rounds.")
@click.option(
    "--workspace",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="Code to verify against: a directory (packed as tar.gz) or a tar, tar.gz, zip or "
    "git bundle, uploaded to the blob store first.",
)
@click.option(
    "--test-command",
    default=None,
    metavar="CMD",
    help="The workspace's own tests, run from its root (default: the language's runner).",
)
@click.option(
    "--dep",
    "deps",
    multiple=True,
    metavar="SPEC",
    help="A dependency of the workspace, e.g. 'attrs==24.2' (repeatable).",
)
@click.option(
    "--expect",
    "expected",
    default=None,
    metavar="ANSWER",
    help="The maths answer the final one must equal, LaTeX or plain (e.g. '\\frac{1}{2}', "
    "'x = 2, x = -3'): checked symbolically, a wrong one is refined.",
)
@click.option(
    "--schema",
    "schema_file",
    type=click.File("r", encoding="utf-8"),
    default=None,
    help="A JSON Schema file (Draft 2020-12) the answer's JSON must match.",
)
@click.option(
    "--id",
    "task_id",
    default=None,
    help="Task id (idempotency key): 1-200 of A-Z a-z 0-9 _ . : -",
)
@click.option("--no-wait", is_flag=True, help="Print the task id and return.")
@click.pass_context
@run_async
async def run(
    ctx: click.Context,
    prompt: str | None,
    prompt_file: TextIO | None,
    kind: str,
    policy: str,
    priority: int,
    tenant: str,
    max_usd: float | None,
    max_tokens: int | None,
    max_rounds: int | None,
    workspace: Path | None,
    test_command: str | None,
    deps: tuple[str, ...],
    expected: str | None,
    schema_file: TextIO | None,
    task_id: str | None,
    no_wait: bool,
) -> None:
    """Start a task, follow its phases and print the result.

    PROMPT is the task (`-` reads it from stdin); longer than api.max_prompt_chars, it is
    refused before anything starts."""
    settings = _settings(ctx)
    if not settings.providers:
        raise NaestroError(f"no provider configured in {settings.source}: add one under providers")
    fields = {"kind": kind, "policy": policy, "priority": priority, "tenant": tenant}
    fields["prompt"] = _read_prompt(prompt, prompt_file)
    budget = {"max_usd": max_usd, "max_tokens": max_tokens, "max_refine_rounds": max_rounds}
    request = _task_request(settings, fields, budget)
    if task_id is not None and (problem := task_id_problem(task_id)):
        raise NaestroError(f"--id: {problem}")
    if workspace is None and (test_command or deps):
        raise NaestroError("--test-command and --dep describe a --workspace: give one")
    if workspace is not None:
        from cli.workspace import workspace_spec

        spec = await workspace_spec(settings, workspace, test_command, deps)
        verify = (request.verify or VerifySpec()).model_copy(update={"workspace": spec})
        request = request.model_copy(update={"verify": verify})
    request = _with_checks(request, expected, schema_file)
    client = await connect(payloads=settings.payloads)
    handle = await start_task(
        client,
        request,
        task_id=task_id,
        task_queue=settings.queues.orchestrator,
        deployment=settings.deploy.name,
    )
    link = workflow_url(handle.id, client.namespace, settings.dev.ui_port)
    console.print(f"task [bold]{handle.id}[/] started: {link}", highlight=False)
    if no_wait:
        return
    result = await follow_live(client, handle, console)
    render.show_result(console, result, link)


def _with_checks(
    request: TaskRequest, expected: str | None, schema_file: TextIO | None
) -> TaskRequest:
    """--expect and --schema as the request's checks; refused when they could never run
    (the API's rule, naestro/checkers/validate.py)."""
    if expected is None and schema_file is None:
        return request
    from naestro.checkers.validate import problems  # jsonschema: only when checks are asked

    schema = None
    if schema_file is not None:
        try:
            schema = json.load(schema_file)
        except ValueError as exc:
            raise NaestroError(f"--schema {schema_file.name}: not JSON: {exc}") from None
        if not isinstance(schema, dict):
            raise NaestroError(f"--schema {schema_file.name}: a schema is a JSON object")
    base = (request.verify or VerifySpec()).model_dump()
    try:
        verify = VerifySpec.model_validate(
            {**base, "expected_answer": expected, "json_schema": schema}
        )
    except ValidationError as exc:
        raise NaestroError(_validation_message(exc)) from None
    flags = {"expected_answer": "--expect", "json_schema": "--schema"}
    if found := problems(request.kind, verify):
        raise NaestroError("; ".join(f"{flags.get(f, f)}: {m}" for f, m in found))
    return request.model_copy(update={"verify": verify})


@main.command()
@click.argument("task_id")
@click.pass_context
@run_async
async def status(ctx: click.Context, task_id: str) -> None:
    """Show a task's phase, round and spend: its result once it completed, and why it ended
    when its run failed, was terminated, timed out or was cancelled."""
    settings = _settings(ctx)
    ui_port = settings.dev.ui_port
    client = await connect(payloads=settings.payloads)
    execution = await describe_status(client, task_id)
    state = state_name(execution)
    ending = await task_ending(client, task_id, execution)
    if ending is None:
        view = await query_status(client, task_id)
        console.print(f"task {task_id}: {state}; {render.progress_line(view)}", highlight=False)
    else:  # how far it got, when a worker can still say; why it ended, always
        try:
            progress = render.progress_line(await query_status(client, task_id))
        except NoWorkerError:
            progress = "its progress cannot be read (no worker)"
        console.print(f"task {task_id}: {state}; {progress}", highlight=False)
        console.print(f"reason: {ending.error}", highlight=False, soft_wrap=True)
    if state == "completed":
        result = await task_handle(client, task_id).result()
        link = workflow_url(task_id, client.namespace, ui_port)
        render.show_result(console, result, link)


@main.command()
@click.argument("task_id")
@click.option("--reason", default="cancelled by user", show_default=True)
@click.pass_context
@run_async
async def cancel(ctx: click.Context, task_id: str, reason: str) -> None:
    """Cancel a running task; it ends with status `cancelled` and keeps its partial result."""
    _settings(ctx)  # the dev key, when it is the one in use
    client = await connect()
    await cancel_task(client, task_id, reason)
    console.print(f"cancel sent to task {task_id}")


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


def _versioned(settings: Settings, **flags: Any) -> Settings:
    """The settings with the worker version flags applied (None: keep the setting)."""
    chosen = {key: value for key, value in flags.items() if value is not None}
    if not chosen:
        return settings
    deploy = settings.deploy.model_validate({**settings.deploy.model_dump(), **chosen})
    return settings.model_copy(update={"deploy": deploy})


def version_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The Worker Versioning flags of `naestro worker` and `naestro dev` (deploy: settings)."""
    options = [
        click.option(
            "--build-id",
            default=None,
            help="This worker's version (default: deploy.build_id, else derived from the code).",
        ),
        click.option("--deployment", default=None, help="Worker deployment (deploy.name)."),
        click.option(
            "--make-current",
            type=click.Choice(["if-none", "always", "never"]),
            default=None,
            help="Make this version current on start (deploy.make_current).",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


@main.command()
@click.option("--queues", "-q", multiple=True, help="Queue to poll (repeatable).")
@click.option("--all", "all_queues", is_flag=True, help="Poll every queue (the default).")
@version_options
@click.pass_context
@run_async
async def worker(
    ctx: click.Context,
    queues: tuple[str, ...],
    all_queues: bool,
    build_id: str | None,
    deployment: str | None,
    make_current: str | None,
) -> None:
    """Run workers for the given queues (default: all of them) until SIGINT/SIGTERM.

    Workers that run workflows join the worker deployment as one version (deploy: in
    temporal.yaml); a first version becomes current by itself, later ones wait for
    `naestro rollout`."""
    from naestro.admin import ensure_search_attributes
    from workers.deps import Deps
    from workers.main import run_workers, select_queues

    settings = _versioned(
        _settings(ctx),
        build_id=build_id,
        name=deployment,
        make_current=make_current,
    )
    plans = select_queues(settings, [] if all_queues else list(queues))
    client = await connect(payloads=settings.payloads)
    await ensure_search_attributes(client)
    stop = asyncio.Event()
    _stop_on_signals(stop)
    console.print(f"worker polling: {', '.join(p.queue for p in plans)}", highlight=False)
    await run_workers(client, Deps.from_settings(settings), plans, stop)


async def _serve_api(settings: Settings, stack: DevStack, stop: asyncio.Event) -> None:
    """The gateway (cli/gateway.py); its /codec decodes for the embedded UI."""
    from cli.gateway import serve_api

    assert stack.database_url is not None
    origins = stack.ui_origins
    await serve_api(settings, stack.client, stack.database_url, stop, dev_ui_origins=origins)


@main.command()
@click.option("--no-worker", is_flag=True, help="Start the servers only.")
@click.option("--no-api", is_flag=True, help="Do not serve the HTTP API and web page.")
@version_options
@click.pass_context
@run_async
async def dev(
    ctx: click.Context,
    no_worker: bool,
    no_api: bool,
    build_id: str | None,
    deployment: str | None,
    make_current: str | None,
) -> None:
    """Start the embedded stack (Temporal dev server, Postgres), workers on every queue, the API.

    The servers die with this command, however it ends; a start stops what an earlier run
    left on the data dir (dev.data_dir) and says so, and refuses a dir a live stack uses.

    Its workers' version becomes current at once (--make-current always): on one machine
    the code you run is the code that serves new tasks."""
    from cli.devstack import DevStack
    from workers.deps import Deps
    from workers.engines.fallback import plan_engines, standing_in, without_fallback
    from workers.main import run_workers, select_queues

    settings = _versioned(
        _settings(ctx),
        build_id=build_id,
        name=deployment,
        make_current=make_current or "always",
    )
    if no_worker:
        settings = without_fallback(settings)
    else:  # no usable provider: the embedded engine stands in for the default policy
        settings, why = await plan_engines(settings)
        if why is not None:
            names = ", ".join(f"{e.id} ({e.model})" for e in standing_in(_settings(ctx)))
            console.print(f"No configured provider is usable; starting the embedded engine {names}")
    stop = asyncio.Event()
    _stop_on_signals(stop)
    codec_endpoint = None if no_api else f"{local_api_url(settings)}/codec"
    async with DevStack(settings, codec_endpoint=codec_endpoint) as stack:
        console.print(f"Temporal UI: {stack.ui_url or '(external server)'}")
        console.print(f"Postgres: {stack.database_url}")
        console.print(f"Payloads: {stack.payloads}", highlight=False)
        console.print("Ctrl-C stops everything; data stays under " + str(stack.data_dir))
        if not no_api and stack.database_url:  # the gateway (cli/gateway.py)
            console.print(f"API and web page: http://{settings.api.host}:{settings.api.port}")
            api = asyncio.create_task(_serve_api(settings, stack, stop))
        if no_worker:
            await stop.wait()
        else:
            plans = select_queues(settings, [])
            await run_workers(stack.client, Deps.from_settings(settings), plans, stop)
        if not no_api and stack.database_url:
            await api
    console.print("stopped")


@main.command()
@click.option("--scripted", is_flag=True, help="Play scripted replies instead of a model.")
@click.pass_context
@run_async
async def demo(ctx: click.Context, scripted: bool) -> None:
    """Run one code task end to end on the embedded stack: the configured providers when they
    answer, else the embedded engine (a small real model on this CPU)."""
    from cli.demo import run_demo

    await run_demo(_settings(ctx), console, scripted)


# Privacy commands: `naestro pii scan|calibrate`, `naestro codec-keygen|codec-server`.
from cli.pii import register as _register_privacy  # noqa: E402

_register_privacy(main)
main.add_command(api_command)  # the gateway's commands: cli/gateway.py
main.add_command(keys_group)

# Memory commands (db migrate, ingest, feedback, search): see cli/memory.py.
from cli.memory import register as register_memory_commands  # noqa: E402

register_memory_commands(main)

# Research jobs (start, steer, status, report): see cli/research.py.
from cli.research import register as register_research_commands  # noqa: E402

register_research_commands(main)


def _add_eval_commands() -> None:
    from cli.engines import engines_command
    from cli.eval import eval_group
    from cli.gpus import gpus_command
    from cli.rollout import rollout

    main.add_command(eval_group)
    main.add_command(engines_command)
    main.add_command(gpus_command)
    main.add_command(rollout)


_add_eval_commands()


def entry() -> NoReturn:
    """The `naestro` console script and `python -m cli.main` (see naestro/exit.py)."""
    exit_after(main)


if __name__ == "__main__":
    entry()
