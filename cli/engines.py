"""`naestro engines`: the supervised local engines, their state and whether they answer."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import click
import httpx
from rich.console import Console
from rich.table import Table

from activities.routing.providers import serves_model
from naestro.config.settings import Settings
from workers.engines.launch import endpoint, served_name
from workers.engines.supervisor import EngineStatus, read_statuses

console = Console(highlight=False)


async def _answering(settings: Settings) -> dict[str, bool]:
    async with httpx.AsyncClient(timeout=2.0) as client:
        checks = [
            serves_model(endpoint(e), served_name(settings.provider(e.id)), client)
            for e in settings.engines
        ]
        answers = await asyncio.gather(*checks)
    return {e.id: ok for e, ok in zip(settings.engines, answers, strict=True)}


def _row(status: EngineStatus | None, engine_id: str, answers: bool) -> list[str]:
    if status is None:
        return [engine_id, "-", "not started", "-", "-", "-", "yes" if answers else "no", ""]
    age = f"{time.time() - status.since:.0f}s"
    pid = str(status.pid) if status.pid else "-"
    return [
        engine_id,
        status.kind,
        status.state,
        age,
        pid,
        str(status.restarts),
        "yes" if answers else "no",
        status.detail,
    ]


@click.command(name="engines")
@click.pass_context
def engines_command(ctx: click.Context) -> None:
    """The local engines in temporal.yaml (`engines:`): state as their worker last recorded
    it (starting, ready, backoff, draining, stopped, failed), and whether each answers now."""
    settings: Settings = ctx.obj["settings"]()
    if not settings.engines:
        console.print(f"{settings.source} declares no engines (see `engines:` in temporal.yaml)")
        return
    recorded = {s.id: s for s in read_statuses(Path(settings.dev.data_dir) / "engines")}
    answers = asyncio.run(_answering(settings))
    table = Table(title="Engines")
    for col in ("id", "kind", "state", "for", "pid", "restarts", "answers", "detail"):
        table.add_column(col)
    for e in settings.engines:
        table.add_row(*_row(recorded.get(e.id), e.id, answers[e.id]))
    console.print(table)
