"""A real gateway for API tests: pgserver Postgres, the session's Temporal dev server,
in-process workers with scripted replies at the provider, uvicorn on a loopback port."""

from __future__ import annotations

import asyncio
import socket
import tempfile
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from temporalio.client import Client

from api.app import create_app
from api.keys import create_key
from naestro.config.settings import Settings
from tests.support import make_settings, replay_provider, running_workers, write_script

JWT_SECRET = "test-jwt-secret-0123456789abcdef0123456789"
SLACK_SECRET = "test-slack-signing-secret"
APPROVER = "U0APPROVER"
# Prompts holding PII_CASE get a plan and an answer that repeat the prompt's PII.
PII_CASE, EMAIL, PHONE = "PII-CASE", "jane.roe@example.org", "+1 415 555 0142"
RULES = [
    {"role": "planner", "contains": PII_CASE, "text": f"1. Email {EMAIL}. 2. Call {PHONE}."},
    {"role": "implementer", "contains": PII_CASE, "text": f"Refund sent; {EMAIL} was told."},
    {"role": "planner", "text": "1. Think. 2. Answer."},
    {"role": "judge", "text": '{"verdict": "accept", "score": 0.9, "rationale": "fine"}'},
    {"text": "The answer is 42."},
]


def _approval(**kw: Any) -> dict[str, Any]:
    return {"approval": kw}


POLICIES = {
    "approve_plan": _approval(plan=True, timeout_seconds=600),
    "approve_both": _approval(plan=True, answer=True, timeout_seconds=600),
    "timeout_reject": _approval(plan=True, timeout_seconds=1, on_timeout="reject"),
    "timeout_approve": _approval(plan=True, timeout_seconds=1, on_timeout="approve"),
    "timeout_escalate": _approval(plan=True, timeout_seconds=1, on_timeout="escalate"),
    # One scripted model sampled three times: the proposals agree, so synthesis is skipped.
    "consensus": {
        "roles": dict.fromkeys(
            ("planner", "implementer", "refiner", "judge", "proposer", "critic", "synthesizer"),
            ["scripted"],
        ),
        "consensus": {"self_consensus": True, "proposers": 3},
    },
}


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR unset
        from naestro.pgembed import embedded_postgres

        server = embedded_postgres(Path(tempfile.mkdtemp(prefix="naestro-pg-")), delete=True)
        try:
            yield str(server.get_uri())
        finally:
            server.cleanup()


def gateway_settings(tmp: Path, **api: Any) -> Settings:
    script = write_script(tmp / "script.jsonl", RULES)
    down = {  # a local engine nobody serves: routing finds no provider, the task fails
        "id": "down",
        "engine": "openai-compatible",
        "model": "m",
        "endpoint": "http://127.0.0.1:9/v1",
    }
    settings = make_settings(tmp, [replay_provider(script), down], api=api)
    base = settings.policies["default"].model_dump()
    scripted_only = {role: ["scripted"] for role in base["roles"]}
    policies = {
        "default": {**base, "roles": scripted_only},
        **{name: {**base, "roles": scripted_only, **extra} for name, extra in POLICIES.items()},
        "broken": {**base, "roles": {role: ["down"] for role in base["roles"]}},
    }
    return Settings.model_validate(
        {**settings.model_dump(exclude={"source"}), "policies": policies}
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@dataclass
class Gw:
    url: str
    settings: Settings
    database_url: str
    webhook: list[dict[str, Any]] = field(default_factory=list)  # Slack messages received

    async def key(self, tenant: str = "acme", scopes: tuple[str, ...] = ("admin",)) -> str:
        from api.db import create_pool

        pool = await create_pool(self.database_url, self.settings.memory)
        try:
            return await create_key(pool, tenant, list(scopes))
        finally:
            await pool.close()

    def http(self, key: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30.0)


@asynccontextmanager
async def gateway(client: Client, database_url: str, **api: Any) -> AsyncIterator[Gw]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = gateway_settings(Path(tmp), **api)
        async with running_workers(client, settings):
            app = create_app(settings, client=client, database_url=database_url)
            async with serve(app) as url:
                yield Gw(url, settings, database_url)


# Tests that poll a task's state every 50 ms must not meet the rate limit.
UNLIMITED = {"rate_limit": {"per_second": 1000.0, "burst": 1000}}
DEFAULT_API = {
    "rate_limit": {"per_second": 50.0, "burst": 200},
    "slack": {"approvers": [APPROVER]},
    "auth_cache_seconds": 0,
}


def incoming_webhook(received: list[dict[str, Any]]) -> FastAPI:
    """A loopback stand-in for Slack's incoming webhook: it keeps what it is sent."""
    hook = FastAPI()

    @hook.post("/hook")
    async def receive(message: dict[str, Any]) -> dict[str, bool]:
        received.append(message)
        return {"ok": True}

    return hook


@pytest.fixture(scope="session")
async def gw(env: Any, database_url: str) -> AsyncIterator[Gw]:
    received: list[dict[str, Any]] = []
    mp = pytest.MonkeyPatch()  # environment only (secrets come from the environment)
    mp.setenv("NAESTRO_JWT_KEY", JWT_SECRET)
    mp.setenv("NAESTRO_SLACK_SIGNING_SECRET", SLACK_SECRET)
    try:
        async with serve(incoming_webhook(received)) as hook_url:
            mp.setenv("NAESTRO_SLACK_WEBHOOK_URL", f"{hook_url}/hook")
            async with gateway(env.client, database_url, **DEFAULT_API) as running:
                running.webhook = received
                yield running
    finally:
        mp.undo()


@pytest.fixture
async def admin_key(gw: Gw) -> str:
    return await gw.key()
