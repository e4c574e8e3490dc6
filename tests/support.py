"""Helpers for tests: per-test settings with fresh queue names, in-process workers."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import yaml
from temporalio.client import Client, WorkflowHistory

from naestro.config.settings import Settings, load_settings
from naestro.contracts import ModelRequest
from workers.deps import Deps
from workers.main import build_workers, select_queues
from workers.versioning import settle_current

ALL_ROLES = ("planner", "implementer", "refiner", "judge")
TEST_DEPLOY = {"name": "naestro-tests", "build_id": "tests", "make_current": "always"}
_settled: set[tuple[int, str, str]] = set()


def write_script(path: Path, rules: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rules))
    return path


def make_settings(
    tmp_path: Path,
    providers: list[dict[str, Any]],
    policy: dict[str, Any] | None = None,
    **sections: Any,
) -> Settings:
    """Settings whose every queue name is unique to this test."""
    tag = uuid.uuid4().hex[:8]
    providers = [
        {**p, "task_queue": p.get("task_queue") or f"models-{p['id']}-{tag}"} for p in providers
    ]
    ids = [p["id"] for p in providers]
    roles = dict.fromkeys(ALL_ROLES, ids)
    data: dict[str, Any] = {
        "providers": providers,
        "policies": {"default": {"roles": roles, **(policy or {})}},
        "queues": {
            "orchestrator": f"orch-{tag}",
            "models_cloud": f"cloud-{tag}",
            "sandbox": f"sandbox-{tag}",
            "memory": f"memory-{tag}",
            "tools": f"tools-{tag}",
        },
        # One deployment version for every test's workers (each on its own queues), made
        # current by the first; tests/rollout make deployments of their own.
        "deploy": TEST_DEPLOY,
        **sections,
    }
    file = tmp_path / f"temporal-{tag}.yaml"
    file.write_text(yaml.safe_dump(data))
    return load_settings(file, environ={})


def replay_provider(script: Path, pid: str = "scripted", **extra: Any) -> dict[str, Any]:
    return {
        "id": pid,
        "engine": "replay",
        "model": "scripted-model",
        "script": str(script),
        **extra,
    }


@asynccontextmanager
async def running_workers(client: Client, settings: Settings) -> AsyncIterator[Deps]:
    deps = Deps.from_settings(settings)
    async with AsyncExitStack() as stack:
        for worker in build_workers(client, deps, select_queues(settings, [])):
            await stack.enter_async_context(worker)
        await settle_once(client, settings)
        yield deps
    await deps.aclose()


async def settle_once(client: Client, settings: Settings) -> None:
    """Make the settings' worker version current on this server, once per process (later
    workers of the same version join it: their queues are routed to it at once)."""
    deploy = settings.deploy
    key = (id(client), deploy.name, deploy.build_id or "")
    if key not in _settled:
        await settle_current(client, deploy)
        _settled.add(key)


def free_port() -> int:
    """A loopback port free right now (for servers the test starts itself)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def recorded_usages(client: Client, history: WorkflowHistory) -> list[dict[str, int]]:
    """Usage of every completed model call, read from the history's (encrypted) results."""
    codec = client.data_converter.payload_codec
    usages = []
    for e in history.events:
        if e.HasField("activity_task_completed_event_attributes"):
            payloads = list(e.activity_task_completed_event_attributes.result.payloads)
            for payload in await codec.decode(payloads) if codec else payloads:
                data = json.loads(payload.data)
                if isinstance(data, dict) and "usage" in data:
                    usages.append(data["usage"])
    return usages


def recorded_requests(path: Path) -> list[ModelRequest]:
    """What a replay provider with ``record: path`` received, in order ([] if nothing)."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [ModelRequest.model_validate_json(line) for line in lines if line.strip()]
