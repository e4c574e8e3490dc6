"""CLI commands of the gateway: `naestro api` and `naestro keys create|revoke`, and the
API server `naestro dev` runs next to its workers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

import click
from temporalio.client import Client

from naestro.config.settings import Settings
from naestro.errors import NaestroError


def _run(coro: Coroutine[Any, Any, None]) -> None:
    try:
        asyncio.run(coro)
    except NaestroError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


def _settings(ctx: click.Context) -> Settings:
    settings: Settings = ctx.obj["settings"]()
    return settings


def database_url(settings: Settings) -> str:
    """API_DB: the configured variable, else the embedded Postgres of `naestro dev`."""
    url = os.environ.get(settings.api.database_url_env)
    if url:
        return url
    from cli.devstack import start_pgserver

    return start_pgserver(Path(settings.dev.data_dir) / "pg")


def local_api_url(settings: Settings) -> str:
    """How a browser on this machine reaches the API (a wildcard bind means loopback)."""
    host = settings.api.host
    host = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
    return f"http://{f'[{host}]' if ':' in host else host}:{settings.api.port}"


async def serve_api(
    settings: Settings,
    client: Client | None,
    db_url: str,
    stop: asyncio.Event,
    host: str | None = None,
    port: int | None = None,
    dev_ui_origins: Sequence[str] = (),
) -> None:
    """Serve the API until `stop` is set; `dev_ui_origins` only from `naestro dev`."""
    import uvicorn

    from api.app import create_app

    app = create_app(settings, client=client, database_url=db_url, dev_ui_origins=dev_ui_origins)
    config = uvicorn.Config(
        app, host=host or settings.api.host, port=port or settings.api.port, log_level="warning"
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    await serving
    stopping.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await stopping


@click.command("api")
@click.option("--host", default=None, help="Bind address (default: api.host).")
@click.option("--port", type=int, default=None, help="Port (default: api.port).")
@click.pass_context
def api_command(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve the HTTP API and web page (Temporal: TEMPORAL_ADDRESS; Postgres: DATABASE_URL)."""
    settings = _settings(ctx)

    async def main() -> None:
        from naestro.connect import connect

        client = await connect()
        url = await asyncio.to_thread(database_url, settings)
        stop = asyncio.Event()
        click.echo(f"API on http://{host or settings.api.host}:{port or settings.api.port}")
        await serve_api(settings, client, url, stop, host, port)

    _run(main())


@click.group("keys")
def keys_group() -> None:
    """Create and revoke API keys (stored hashed in Postgres)."""


@keys_group.command("create")
@click.option("--tenant", required=True, help="The tenant whose tasks the key reaches.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    default=("tasks:read", "tasks:write"),
    show_default=True,
    help="tasks:read, tasks:write, approvals:write or admin (repeatable).",
)
@click.option("--name", default="", help="A label for the key.")
@click.pass_context
def keys_create(ctx: click.Context, tenant: str, scopes: tuple[str, ...], name: str) -> None:
    """Create a key and print it (the only time its secret is shown)."""
    settings = _settings(ctx)

    async def main() -> None:
        from api.db import create_pool
        from api.keys import create_key

        pool = await create_pool(await asyncio.to_thread(database_url, settings), settings.memory)
        try:
            click.echo(await create_key(pool, tenant, list(scopes), name))
        finally:
            await pool.close()

    _run(main())


@keys_group.command("revoke")
@click.argument("key_or_id")
@click.pass_context
def keys_revoke(ctx: click.Context, key_or_id: str) -> None:
    """Revoke a key (give the key itself or its 12-character id)."""
    settings = _settings(ctx)

    async def main() -> None:
        from api.db import create_pool
        from api.keys import revoke_key

        pool = await create_pool(await asyncio.to_thread(database_url, settings), settings.memory)
        try:
            await revoke_key(pool, key_or_id)
        finally:
            await pool.close()
        click.echo(f"revoked {key_or_id[:15]}")

    _run(main())
