"""Request body limits: 413 JSON naming the limit, before a byte is read when the body
declares its length, else as soon as the bytes received pass it (chunked bodies too).

One limit for every route (``api.max_body_bytes``), except the routes given their own
(workspace uploads: ``api.max_workspace_bytes``). The answer has the shape of every other
API error (``detail`` plus OpenAI's ``error``), so OpenAI clients show it too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def safe(text: str) -> str:
    """``text`` as UTF-8 can carry it: a lone surrogate becomes its escape (``\\ud800``)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def error_body(status: int, detail: str) -> dict[str, object]:
    """An API error: ``detail``, and ``error`` in the OpenAI shape (``detail`` may quote a
    caller's text: made encodable, or the answer itself would fail)."""
    detail = safe(detail)
    error = {"message": detail, "type": "invalid_request_error", "code": status}
    return {"detail": detail, "error": error}


@dataclass(frozen=True)
class Limit:
    max_bytes: int
    setting: str  # the temporal.yaml key, named in the answer
    hint: str = ""  # e.g. what a prompt may hold


class BodyTooLarge(HTTPException):
    """Starlette's HTTPException: FastAPI passes it through its body parsing unchanged."""

    def __init__(self, limit: Limit, declared: int | None = None) -> None:
        size = f"{declared} bytes" if declared is not None else "more bytes than that"
        hint = f"; {limit.hint}" if limit.hint else ""
        super().__init__(
            413, f"body: {size}, over the limit of {limit.max_bytes} ({limit.setting}){hint}"
        )


async def body_too_large(_: Request, exc: Exception) -> Response:
    """The app's handler for :class:`BodyTooLarge` raised while a route reads its body."""
    assert isinstance(exc, BodyTooLarge)
    return JSONResponse(error_body(413, exc.detail), status_code=413)


class BodyLimit:
    """Pure ASGI middleware; ``routes`` maps an exact path to its own limit."""

    def __init__(self, app: ASGIApp, limit: Limit, routes: Mapping[str, Limit] = {}) -> None:
        self.app = app
        self.limit = limit
        self.routes = dict(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.routes.get(scope["path"], self.limit)
        length = Headers(scope=scope).get("content-length", "")
        if length.isdigit() and int(length) > limit.max_bytes:
            await _refuse(BodyTooLarge(limit, int(length)), scope, receive, send)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit.max_bytes:
                    raise BodyTooLarge(limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge as exc:  # read outside a route's handler (e.g. a middleware)
            if started:
                raise
            await _refuse(exc, scope, receive, send)


async def _refuse(exc: BodyTooLarge, scope: Scope, receive: Receive, send: Send) -> None:
    response = JSONResponse(error_body(413, exc.detail), status_code=413)
    await response(scope, receive, send)
