"""The codec server: lets authorised people read encrypted payloads in the Temporal UI.

The Temporal UI (and ``temporal workflow show --codec-endpoint``) POSTs
``{"payloads": [...]}`` in protobuf JSON to ``<endpoint>/decode`` and ``/encode``; we answer
in kind. Every call needs authorisation: :func:`codec_router` takes the FastAPI dependency
that decides it, so the main API's auth can replace the bearer-token check used here
(:func:`bearer_token_auth`, token from ``NAESTRO_CODEC_TOKEN``).

``create_app()`` is a standalone app (``naestro codec-server``) with CORS for the UI's
origin (``NAESTRO_CODEC_CORS_ORIGINS``, default the dev server UI).

``naestro dev`` alone mounts the router with :func:`local_ui_auth`: its Temporal UI runs in
the local browser, which has no token to send (see docs/operations.md).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, status
from fastapi.middleware.cors import CORSMiddleware
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from api.validation import JsonRoute
from naestro.codec import CodecError, EncryptionCodec, codec_from_env
from naestro.errors import ConfigError

TOKEN_ENV = "NAESTRO_CODEC_TOKEN"
ORIGINS_ENV = "NAESTRO_CODEC_CORS_ORIGINS"
DEFAULT_ORIGINS = ("http://localhost:8233", "http://127.0.0.1:8233")
MIN_TOKEN_CHARS = 16
Authorize = Callable[..., Any]  # a FastAPI dependency; its return value is unused


def bearer_token_auth(token: str) -> Callable[[Request], None]:
    """A dependency accepting ``Authorization: Bearer <token>`` (constant-time compare)."""
    if len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(f"{TOKEN_ENV} must hold at least {MIN_TOKEN_CHARS} characters")
    expected = token.encode()

    def authorize(request: Request) -> None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), expected):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "a valid bearer token is required",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return authorize


def _is_loopback(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_loopback


def local_ui_auth(ui_origins: Iterable[str]) -> Callable[[Request], None]:
    """Dev only: let in callers on this machine (a loopback peer) whose ``Origin``, when
    they send one, is the embedded UI's. Browsers always send it on the UI's cross-origin
    POST, so another web page is refused even when DNS rebinding points its name at
    127.0.0.1; a local process without an Origin (``temporal workflow show``) is let in,
    as it could already reach the unauthenticated dev server."""
    allowed = frozenset(ui_origins)

    def authorize(request: Request) -> None:
        origin = request.headers.get("origin")
        local = _is_loopback(request.client.host if request.client else "")
        if not local or (origin is not None and origin not in allowed):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, "the dev codec endpoint serves the local Temporal UI"
            )

    return authorize


async def _payloads(request: Request) -> Payloads:
    body = await request.body()
    try:
        return json_format.Parse(body, Payloads(), ignore_unknown_fields=False)
    except (json_format.ParseError, UnicodeDecodeError) as exc:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, f'expected {{"payloads": [...]}} in protobuf JSON: {exc}'
        ) from None


def _answer(payloads: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = json_format.MessageToDict(Payloads(payloads=payloads))
    out.setdefault("payloads", [])
    return out


def codec_router(codec: EncryptionCodec, authorize: Authorize) -> APIRouter:
    """``POST /codec/encode`` and ``POST /codec/decode``, both behind ``authorize``."""
    router = APIRouter(
        route_class=JsonRoute, prefix="/codec", tags=["codec"], dependencies=[Depends(authorize)]
    )

    @router.post("/encode")
    async def encode(payloads: Annotated[Payloads, Depends(_payloads)]) -> dict[str, Any]:
        return _answer(await codec.encode(payloads.payloads))

    @router.post("/decode")
    async def decode(payloads: Annotated[Payloads, Depends(_payloads)]) -> dict[str, Any]:
        try:
            return _answer(await codec.decode(payloads.payloads))
        except CodecError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None

    return router


def cors_origins(environ: Mapping[str, str]) -> list[str]:
    raw = environ.get(ORIGINS_ENV, "")
    return [o.strip() for o in raw.split(",") if o.strip()] or list(DEFAULT_ORIGINS)


def create_app(environ: Mapping[str, str] | None = None) -> FastAPI:
    """The standalone codec server; refuses to start without keys or without a token."""
    env = os.environ if environ is None else environ
    codec = codec_from_env(env)
    if codec is None:
        raise ConfigError("the codec server needs NAESTRO_CODEC_KEYS (see docs/operations.md)")
    token = env.get(TOKEN_ENV, "")
    if not token:
        raise ConfigError(f"the codec server needs {TOKEN_ENV}: it never runs unauthenticated")
    app = FastAPI(title="Naestro codec server")
    app.add_middleware(
        CORSMiddleware,
        allow_origins=cors_origins(env),
        allow_credentials=True,
        allow_methods=["POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "X-Namespace"],
    )
    app.include_router(codec_router(codec, bearer_token_auth(token)))
    return app
