"""Memory commands: `naestro db migrate`, `naestro ingest PATH...`, `naestro feedback ...`,
`naestro search QUERY`. Hooked into cli.main by ``register``.

They talk to Postgres directly ($DATABASE_URL, or memory.database_url_env); without one
they start the embedded database under dev.data_dir (as `naestro dev` does). A large
ingest can instead run as an IngestWorkflow on the memory worker (``--workflow``).
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from naestro.config.settings import Settings
from naestro.errors import NaestroError

if TYPE_CHECKING:
    from activities.memory.service import MemoryService

console = Console()
err_console = Console(stderr=True)


def _settings(ctx: click.Context) -> Settings:
    settings: Settings = ctx.obj["settings"]()
    return settings


async def resolve_url(settings: Settings) -> str:
    """The configured database, else the embedded one (started and migrated)."""
    from naestro import db

    url = os.environ.get(settings.memory.database_url_env)
    if not url:
        from cli.devstack import start_pgserver

        pg_dir = Path(settings.dev.data_dir) / "pg"
        url = await asyncio.to_thread(start_pgserver, pg_dir)
    await db.migrate(url, settings.memory)
    return url


@asynccontextmanager
async def _service(settings: Settings) -> AsyncIterator[MemoryService]:
    from activities.memory.service import MemoryService

    service = MemoryService(settings.memory, await resolve_url(settings))
    try:
        yield service
    finally:
        await service.aclose()


def _run(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Like cli.main.run_async (not imported: `python -m cli.main` would import twice)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            asyncio.run(fn(*args, **kwargs))
        except (NaestroError, ValidationError) as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
            sys.exit(1)
        except KeyboardInterrupt:
            err_console.print("[bold red]error:[/] interrupted (re-run to resume)")
            sys.exit(130)

    return wrapper


@click.group()
def db() -> None:
    """The memory database (Postgres + pgvector)."""


@db.command()
@click.pass_context
@_run
async def migrate(ctx: click.Context) -> None:
    """Apply pending migrations, create monthly partitions ahead, build the vector index."""
    from naestro import db as dbmod

    settings = _settings(ctx)
    url = os.environ.get(settings.memory.database_url_env)
    if not url:
        url = await resolve_url(settings)
        console.print("migrated the embedded database under " + settings.dev.data_dir)
        return
    applied = await dbmod.migrate(url, settings.memory)
    console.print(f"applied: {', '.join(applied) or 'nothing (up to date)'}")


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, resolve_path=True))
@click.option("--tenant", default="default", show_default=True)
@click.option("--collection", default="docs", show_default=True)
@click.option("--workflow", "as_workflow", is_flag=True,
              help="Run as an IngestWorkflow on the memory worker (large jobs).")  # fmt: skip
@click.pass_context
@_run
async def ingest(
    ctx: click.Context, paths: tuple[str, ...], tenant: str, collection: str, as_workflow: bool
) -> None:
    """Ingest files and directories (Markdown, text, reST, HTML, source code).

    Re-running continues an interrupted ingest: stored content (by hash) is skipped.
    """
    from naestro.contracts.memory import IngestRequest

    settings = _settings(ctx)
    request = IngestRequest(paths=list(paths), tenant=tenant,
                            collection=collection, task_queue=settings.queues.memory)  # fmt: skip
    if as_workflow:
        await _ingest_workflow(settings, request)
        return
    async with _service(settings) as service:
        ingestor = await service.ingestor()
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("ingesting", total=None)

            def step(done: int, total: int, path: str) -> None:
                bar.update(task, completed=done, total=total, description=Path(path).name[:40])

            report = await ingestor.run(request, on_progress=step)
    console.print(
        f"{report.files} file(s): {report.documents} new document(s), {report.chunks} chunk(s), "
        f"{report.duplicates} already stored, {len(report.skipped)} empty"
    )


async def _ingest_workflow(settings: Settings, request: Any) -> None:
    from naestro.connect import connect
    from workflows.ingest import IngestWorkflow

    client = await connect()
    report = await client.execute_workflow(
        IngestWorkflow.run,
        request,
        id=f"ingest-{request.tenant}-{request.collection}-{os.getpid()}",
        task_queue=settings.queues.orchestrator,
    )
    console.print(f"ingest workflow: {report.documents} new document(s), {report.chunks} chunks")


@click.command()
@click.argument("verdict", type=click.Choice(["approve", "reject"]))
@click.option("--chunk", "chunk_id", type=int, default=None, help="A cited chunk's id.")
@click.option("--task", "task_id", default=None, help="A task id (feedback on its answer).")
@click.option("--tenant", default="default", show_default=True)
@click.option("--note", default="", help="Why.")
@click.pass_context
@_run
async def feedback(
    ctx: click.Context,
    verdict: str,
    chunk_id: int | None,
    task_id: str | None,
    tenant: str,
    note: str,
) -> None:
    """Approve or reject a cited chunk (--chunk ID) or a task's answer (--task ID)."""
    from naestro.contracts.memory import FeedbackRequest

    if (chunk_id is None) == (task_id is None):
        raise NaestroError("give exactly one of --chunk ID or --task ID")
    async with _service(_settings(ctx)) as service:
        req = FeedbackRequest.model_validate(
            {"verdict": verdict, "chunk_id": chunk_id, "task_id": task_id, "tenant": tenant,
             "note": note}
        )  # fmt: skip
        result = await service.feedback(req)
    target = f"chunk {chunk_id}" if chunk_id is not None else f"task {task_id}"
    console.print(f"{verdict} recorded for {target}: {result.approvals} approval(s), "
                  f"{result.rejections} rejection(s)")  # fmt: skip


@click.command()
@click.argument("query")
@click.option("--tenant", default="default", show_default=True)
@click.option("--collection", "collections", multiple=True, help="Repeatable; default all.")
@click.option("-k", "k", type=int, default=5, show_default=True)
@click.option("--legs", type=click.Choice(["hybrid", "bm25", "vector"]), default="hybrid")
@click.pass_context
@_run
async def search(
    ctx: click.Context, query: str, tenant: str, collections: tuple[str, ...], k: int, legs: str
) -> None:
    """Search memory and print the hits with their scores and citations."""
    from naestro.contracts.memory import SearchRequest

    async with _service(_settings(ctx)) as service:
        req = SearchRequest.model_validate(
            {"query": query, "tenant": tenant, "k": k, "legs": legs,
             "collections": list(collections)}
        )  # fmt: skip
        result = await service.search(req)
    for n, hit in enumerate(result.hits, 1):
        console.print(f"[{n}] {hit.score:.4f} {hit.citation}", highlight=False)
        console.print("    " + hit.content[:200].replace("\n", " "), highlight=False)
    if not result.hits:
        console.print("no hits")


def register(main: click.Group) -> None:
    for command in (db, ingest, feedback, search):
        main.add_command(command)
