"""Small helpers shared by the API tests: waiting on conditions, reading SSE."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

T = TypeVar("T")


async def until(probe: Callable[[], Awaitable[T | None]], within: float = 30.0) -> T:
    """Poll `probe` until it returns something truthy (a condition, not a fixed sleep)."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def task_state(http: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    reply = await http.get(f"/v1/tasks/{task_id}")
    assert reply.status_code == 200, reply.text
    data: dict[str, Any] = reply.json()
    return data


async def finished(http: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        view = await task_state(http, task_id)
        return view if view["state"] != "running" else None

    return await until(done)


async def pending(http: httpx.AsyncClient, task_id: str, stage: str) -> dict[str, Any]:
    async def waiting() -> dict[str, Any] | None:
        view = await task_state(http, task_id)
        req = view.get("pending_approval")
        return req if req and req["stage"] == stage else None

    return await until(waiting)


async def read_sse(
    http: httpx.AsyncClient, path: str, headers: dict[str, str] | None = None, limit: int = 0
) -> list[dict[str, Any]]:
    """Events of an SSE stream: [{id, event, data}], stopping after `limit` when given."""
    out: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    async with http.stream("GET", path, headers=headers or {}) as reply:
        assert reply.status_code == 200
        async for line in reply.aiter_lines():
            if not line:
                if "data" in current:
                    current["data"] = json.loads(current["data"])
                    out.append(current)
                    if limit and len(out) >= limit:
                        break
                current = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(":")
                current[name] = value.strip()
    return out
