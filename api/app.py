"""The FastAPI app factory: Temporal client and Postgres pool made in the lifespan.

`create_app(settings)` connects the SDK's way (TEMPORAL_ADDRESS ...) and to the database
named by `api.database_url_env`; tests and `naestro dev` pass their own client and URL.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from temporalio.client import Client

from api import telemetry
from api.auth import Authenticator
from api.body_limit import BodyLimit, BodyTooLarge, Limit, body_too_large, error_body
from api.cache import ResponseCache
from api.codec import codec_router, cors_origins, local_ui_auth
from api.db import create_pool
from api.deps import require
from api.limits import Backpressure, RateLimiter, TooBusy
from api.routers import approvals, blobs, engines, openai_compat, research, slack, tasks, web
from api.service import ApiError, Gateway
from api.validation import BadJson, validation_failed
from naestro.codec import codec_from_env
from naestro.config.settings import Settings
from naestro.connect import connect
from naestro.errors import ConfigError


async def _api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    # `error` is the OpenAI shape, so OpenAI clients show the message too.
    body = error_body(exc.status, exc.detail)
    return JSONResponse(body, status_code=exc.status, headers=exc.headers)


async def _too_busy(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, TooBusy)
    telemetry.throttled("backpressure")
    headers = {"Retry-After": str(exc.retry_after)}
    return JSONResponse({"detail": exc.detail}, status_code=429, headers=headers)


def _database_url(settings: Settings, given: str | None) -> str:
    url = given or os.environ.get(settings.api.database_url_env)
    if not url:
        raise ConfigError(
            f"the API needs Postgres: set {settings.api.database_url_env} (or run `naestro dev`)"
        )
    return url


def _mount_codec(app: FastAPI, dev_ui_origins: Sequence[str]) -> None:
    """``/codec`` when payloads are encrypted. Payloads carry no tenant, so reading them is
    an admin's right; under ``naestro dev`` (``dev_ui_origins`` given) the local UI's."""
    codec = codec_from_env()
    if codec is None:
        return
    authorize = local_ui_auth(dev_ui_origins) if dev_ui_origins else require("admin")
    app.include_router(codec_router(codec, authorize))
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(dev_ui_origins) or cors_origins(os.environ),
        allow_credentials=True,
        allow_methods=["POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "X-Namespace"],
    )


def _limit_bodies(app: FastAPI, settings: Settings) -> None:
    """413 over api.max_body_bytes (it holds a prompt of api.max_prompt_chars); workspace
    uploads over api.max_workspace_bytes."""
    cfg = settings.api
    prompts = f"a prompt may hold {cfg.max_prompt_chars} characters (api.max_prompt_chars)"
    workspaces = {blobs.PATH: Limit(cfg.max_workspace_bytes, "api.max_workspace_bytes")}
    app.add_middleware(
        BodyLimit, limit=Limit(cfg.max_body_bytes, "api.max_body_bytes", prompts), routes=workspaces
    )


def create_app(
    settings: Settings,
    *,
    client: Client | None = None,
    database_url: str | None = None,
    dev_ui_origins: Sequence[str] = (),
) -> FastAPI:
    """``dev_ui_origins``: only from ``naestro dev``, the embedded Temporal UI's origins."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        temporal = client or await connect(payloads=settings.payloads)
        pool = await create_pool(_database_url(settings, database_url), settings.memory)
        cfg = settings.api
        codec = codec_from_env()  # seals the response cache; None: PII-free results only
        app.state.gateway = Gateway(
            settings=settings,
            client=temporal,
            pool=pool,
            auth=Authenticator(pool, cfg.jwt, cfg.auth_cache_seconds),
            cache=ResponseCache(pool, cfg.cache_ttl_seconds, codec),
            limiter=RateLimiter(pool, cfg.rate_limit),
            backpressure=Backpressure(temporal, cfg),
        )
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(
        title="Naestro",
        version="0.1.0",
        description="Durable multi-model LLM orchestration on Temporal: tasks, approvals, "
        "progress events, research jobs and an OpenAI-compatible endpoint.",
        lifespan=lifespan,
    )
    _limit_bodies(app, settings)
    app.add_middleware(telemetry.Observed)  # outermost: sees every answer, 413s included
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(TooBusy, _too_busy)
    app.add_exception_handler(BodyTooLarge, body_too_large)
    app.add_exception_handler(RequestValidationError, validation_failed)
    app.add_exception_handler(BadJson, validation_failed)
    routers = (tasks, blobs, approvals, research, engines, openai_compat, slack, web, telemetry)
    for module in routers:
        app.include_router(module.router)
    _mount_codec(app, dev_ui_origins)
    return app
