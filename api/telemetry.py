"""The gateway's telemetry: a server span per request (its trace continues into the task's
workflow, whose start carries the context), request counts and latency by route template,
and ``GET /metrics`` for the whole process (the Temporal runtime's series included)."""

from __future__ import annotations

import time

from fastapi import APIRouter
from fastapi.responses import Response
from opentelemetry import propagate, trace
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.validation import JsonRoute
from naestro.telemetry import catalogue, metrics, tracing

router = APIRouter(route_class=JsonRoute, tags=["operations"])
UNMATCHED = "unmatched"  # paths no route serves share one label (no cardinality from scans)


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics() -> Response:
    # A scrape reads the Temporal runtime's exporter over loopback: off the event loop.
    body = await run_in_threadpool(generate_latest, REGISTRY)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


class Observed:
    """Pure ASGI middleware: span and metrics around each HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.tracer = trace.get_tracer("naestro.api")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        status = 500  # what the caller gets when the app raises before answering
        started = time.monotonic()

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        context = None  # a caller's traceparent is read only while traces are on
        if tracing.enabled():
            carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            context = propagate.extract(carrier)
        with self.tracer.start_as_current_span(
            method, context=context, kind=trace.SpanKind.SERVER
        ) as span:
            try:
                await self.app(scope, receive, sending)
            finally:
                route = _route(scope)  # known once routing ran
                span.update_name(f"{method} {route}")
                span.set_attributes(
                    {
                        "http.request.method": method,
                        "http.route": route,
                        "http.response.status_code": status,
                    }
                )
                if status >= 500:
                    span.set_status(trace.StatusCode.ERROR)
                labels = {"route": route, "method": method}
                metrics.count(catalogue.API_REQUESTS, status=str(status), **labels)
                metrics.observe(catalogue.API_SECONDS, time.monotonic() - started, **labels)


def _route(scope: Scope) -> str:
    """The template of the route that served the request (``/v1/tasks/{task_id}``), which
    routing leaves in the scope; a request no route took (404, an early 413) is unmatched."""
    return str(getattr(scope.get("route"), "path", None) or UNMATCHED)


def throttled(reason: str) -> None:
    metrics.count(catalogue.API_THROTTLED, reason=reason)
