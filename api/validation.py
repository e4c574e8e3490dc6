"""Hostile JSON bodies and the 422 answer, which must render whatever a caller sent.

Python's ``json`` reads ``NaN``, ``Infinity`` and ``1e309`` (as non-finite floats), which
no JSON encoder writes back, and recurses on nesting. Every router is built with
:class:`JsonRoute`, whose request refuses both before validation (422 naming the field,
or the body), and :func:`validation_failed` renders a validation error without echoing
anything it could not encode (lone surrogates, bytes, NaN, deep structures).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine, Iterator, Sequence
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from api.body_limit import error_body, safe

# Deeper than any body we take (a JSON Schema included); Python's parser recurses.
MAX_DEPTH = 64
_ECHO_CHARS = 200  # an invalid input is echoed (cut to this) only when it is a scalar
Loc = tuple[str | int, ...]


class BadJson(HTTPException):
    """A body that parses but that no endpoint may take. An HTTPException, so FastAPI's
    body reading passes it through; rendered by :func:`validation_failed`'s rules."""

    def __init__(self, errors: Sequence[dict[str, Any]]) -> None:
        super().__init__(422, "invalid JSON body")
        self.errors = list(errors)


def _walk(value: Any) -> Iterator[tuple[Loc, Any]]:
    """Every value with its path, iteratively (no recursion on hostile nesting)."""
    stack: list[tuple[Loc, Any]] = [((), value)]
    while stack:
        loc, item = stack.pop()
        yield loc, item
        if isinstance(item, dict):
            stack.extend((loc + (str(k),), v) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((loc + (i,), v) for i, v in enumerate(item))


def _error(loc: Loc, type_: str, msg: str) -> dict[str, Any]:
    return {"type": type_, "loc": ("body", *loc), "msg": msg}


def _too_deep() -> dict[str, Any]:
    return _error((), "json_depth", f"JSON nested deeper than {MAX_DEPTH} levels")


def check_json(value: Any) -> list[dict[str, Any]]:
    """What makes a parsed body unacceptable whatever its endpoint (empty: nothing)."""
    for loc, item in _walk(value):
        if len(loc) > MAX_DEPTH:
            return [_too_deep()]
        if isinstance(item, float) and not math.isfinite(item):
            msg = "Input should be a finite number (NaN, Infinity and overflowing numbers)"
            return [_error(loc, "finite_number", msg)]
    return []


def parse_json(body: bytes) -> Any:
    """``json.loads`` with :func:`check_json`'s rules; JSONDecodeError as json.loads."""
    try:
        value = json.loads(body)
    except RecursionError:
        raise BadJson([_too_deep()]) from None
    if errors := check_json(value):
        raise BadJson(errors)
    return value


class JsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse_json(await self.body())
        return self._json


class JsonRoute(APIRoute):
    """The route class of every router: its body is read by :class:`JsonRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(JsonRequest(request.scope, request.receive))

        return strict


def _scalar(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "backslashreplace")
    text = safe(value if isinstance(value, str) else str(value))
    return text if len(text) <= _ECHO_CHARS else text[:_ECHO_CHARS] + "..."


def _rendered(error: dict[str, Any]) -> dict[str, Any]:
    """One error as JSON can carry it: loc, msg, type; a scalar input, cut; ctx as text."""
    out: dict[str, Any] = {
        "type": safe(str(error.get("type", "value_error"))),
        "loc": [p if isinstance(p, int) else safe(str(p)) for p in error.get("loc", ())],
        "msg": safe(str(error.get("msg", ""))),
    }
    value = error.get("input")
    if not isinstance(value, dict | list | tuple | set):
        out["input"] = _scalar(value)
    if ctx := error.get("ctx"):
        out["ctx"] = {safe(str(k)): _scalar(v) for k, v in dict(ctx).items()}
    return out


def _message(errors: list[dict[str, Any]]) -> str:
    parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:5]]
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more


def validation_response(raw: Sequence[Any]) -> Response:
    """422: ``detail``, the errors (loc, msg, type) as FastAPI lists them, and ``error``
    in the OpenAI shape with them in one line."""
    errors = [_rendered(e if isinstance(e, dict) else {"msg": str(e)}) for e in raw]
    body = error_body(422, _message(errors))
    body["detail"] = errors
    return JSONResponse(body, status_code=422)


async def validation_failed(_: Request, exc: Exception) -> Response:
    """The app's handler for RequestValidationError and :class:`BadJson`."""
    if isinstance(exc, BadJson):
        return validation_response(exc.errors)
    assert isinstance(exc, RequestValidationError)
    return validation_response(exc.errors())
