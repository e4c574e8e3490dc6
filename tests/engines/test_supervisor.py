"""The engine supervisor over a stand-in engine (a real child process on loopback): real
readiness (not a TCP connect), restart with backoff after a crash, drain on stop, and the
process dies with the worker."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx

from activities.routing.providers import serves_model
from naestro.config.settings import EngineConfig, ProviderConfig, Settings
from tests.support import free_port
from workers.engines.supervisor import Supervisor, read_statuses

FAKE = str(Path(__file__).with_name("fake_engine.py"))
MODEL = "tiny-model"


def _settings(port: int, load_seconds: float) -> Settings:
    provider = ProviderConfig(
        id="tiny", engine="llamacpp", model=MODEL, endpoint=f"http://127.0.0.1:{port}/v1"
    )
    engine = EngineConfig(
        id="tiny",
        kind="command",
        model=MODEL,
        port=port,
        command=[sys.executable, FAKE, str(port), MODEL, str(load_seconds)],
        restart_backoff_seconds=0.2,
    )
    return Settings(providers=[provider], engines=[engine])


class Events:
    def __init__(self) -> None:
        self.seen: list[str] = []
        self.changed = asyncio.Condition()

    async def ready(self, engine_id: str) -> None:
        await self._add(f"ready:{engine_id}")

    async def down(self, engine_id: str) -> None:
        await self._add(f"down:{engine_id}")

    async def _add(self, event: str) -> None:
        async with self.changed:
            self.seen.append(event)
            self.changed.notify_all()

    async def wait_for(self, count: int) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(lambda: len(self.seen) >= count), 30)


async def test_loading_engine_is_not_ready_then_crash_restarts_and_stop_drains(
    tmp_path: Path,
) -> None:
    port = free_port()
    settings = _settings(port, load_seconds=1.5)
    events, stop = Events(), asyncio.Event()
    supervisor = Supervisor(
        settings, ["tiny"], tmp_path, lambda e: e.model, events.ready, events.down
    )
    running = asyncio.create_task(supervisor.run(stop))
    runner = supervisor.runners[0]
    async with httpx.AsyncClient(timeout=2) as client:
        # The port answers (503) while the model loads, but a loading engine is not ready.
        assert await _answers(client, runner.status.endpoint) == 503
        assert not await serves_model(runner.status.endpoint, MODEL, client)
        assert events.seen == []
        await events.wait_for(1)
        assert events.seen == ["ready:tiny"]
        assert await serves_model(runner.status.endpoint, MODEL, client)
        first = runner.status.pid
        assert first is not None

        os.kill(first, signal.SIGKILL)  # the engine crashes mid-service
        await events.wait_for(3)  # down, then ready again after the backoff
        assert events.seen == ["ready:tiny", "down:tiny", "ready:tiny"]
        assert runner.status.restarts == 1 and runner.status.pid not in (None, first)
        assert [s.state for s in read_statuses(tmp_path)] == ["ready"]

        second = runner.status.pid
        stop.set()
        await asyncio.wait_for(running, 30)
    assert events.seen[-1] == "down:tiny"
    assert runner.status.state == "stopped"
    assert second is not None and not _alive(second)


async def test_an_engine_that_cannot_start_fails_alone(tmp_path: Path) -> None:
    settings = _settings(free_port(), 0)
    broken = settings.engines[0].model_copy(update={"command": ["/nonexistent/engine"]})
    settings = settings.model_copy(update={"engines": [broken]})
    events, stop = Events(), asyncio.Event()
    supervisor = Supervisor(
        settings, ["tiny"], tmp_path, lambda e: e.model, events.ready, events.down
    )
    await asyncio.wait_for(supervisor.run(stop), 10)
    status = supervisor.statuses()[0]
    assert status.state == "failed" and "/nonexistent/engine" in status.detail
    assert events.seen == []


async def _answers(client: httpx.AsyncClient, base_url: str) -> int:
    """The first HTTP status the engine answers with, once it listens (10 s at most)."""
    for _ in range(200):
        try:
            return (await client.get(f"{base_url}/models")).status_code
        except httpx.TransportError:
            await asyncio.sleep(0.05)
    raise AssertionError(f"{base_url} never answered")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
