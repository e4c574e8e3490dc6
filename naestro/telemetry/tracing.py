"""Traces: OpenTelemetry through Temporal's replay-safe plugin, exported by OTLP when the
standard ``OTEL_*`` variables ask for it.

A task is one trace: the API request's span, StartWorkflow, RunWorkflow, each activity and
child workflow (``OpenTelemetryPlugin`` carries the context in Temporal headers), and a
``chat <model>`` span per model call with OpenTelemetry's GenAI attributes and Naestro's
own (role, phase, provider, tenant, cost, GPU-seconds). Spans never carry prompt or reply
text. The tracer provider is ``create_tracer_provider()``'s, whose span ids come from the
workflow's deterministic randomness and which ends no span while a history replays, so a
replayed task adds nothing to its trace.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from temporalio.contrib.opentelemetry import (
    OpenTelemetryPlugin,
    ReplaySafeTracerProvider,
    create_tracer_provider,
)
from temporalio.plugin import SimplePlugin

TRACER = "naestro"
# OpenTelemetry GenAI's provider names for Naestro's engines (the rest go as they are).
_GENAI_PROVIDER = {"google": "gcp.gemini", "xai": "x_ai", "replay": "naestro.scripted"}

_lock = threading.Lock()
_provider: ReplaySafeTracerProvider | None = None


def exporting() -> bool:
    """Whether the environment asks for OTLP traces (the standard variables)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    if os.environ.get("OTEL_TRACES_EXPORTER", "otlp").lower() == "none":
        return False
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


def install_tracing(service: str, processor: SpanProcessor | None = None) -> bool:
    """Make the process's tracer provider, once: an OTLP exporter when the environment
    asks for one, and ``processor`` when given (tests). Returns whether traces are on."""
    global _provider
    with _lock:
        if _provider is None:
            otlp = exporting()
            if processor is None and not otlp:
                return False
            name = os.environ.get("OTEL_SERVICE_NAME") or service
            _provider = create_tracer_provider(resource=Resource.create({"service.name": name}))
            if otlp:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                    OTLPSpanExporter,
                )

                _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
            trace.set_tracer_provider(_provider)
        if processor is not None:
            _provider.add_span_processor(processor)
        return True


def enabled() -> bool:
    return _provider is not None


def client_plugins() -> list[SimplePlugin]:
    """The plugins a Temporal client (and the workers built on it) carries: Temporal's
    OpenTelemetry plugin when traces are on."""
    return [OpenTelemetryPlugin(add_temporal_spans=True)] if enabled() else []


def flush(timeout_seconds: float = 5.0) -> None:
    if _provider is not None:
        _provider.force_flush(int(timeout_seconds * 1000))


@contextmanager
def model_call_span(
    *,
    engine: str,
    model: str,
    provider: str,
    role: str,
    phase: str,
    tenant: str,
    max_tokens: int,
    temperature: float,
) -> Iterator[trace.Span]:
    """A client span around one model call (OpenTelemetry GenAI conventions): its
    attributes say who was asked, never what."""
    tracer = trace.get_tracer(TRACER)
    attributes: Mapping[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": _GENAI_PROVIDER.get(engine, engine),
        "gen_ai.system": _GENAI_PROVIDER.get(engine, engine),
        "gen_ai.request.model": model,
        "gen_ai.request.max_tokens": max_tokens,
        "gen_ai.request.temperature": temperature,
        "naestro.provider": provider,
        "naestro.role": role,
        "naestro.phase": phase,
        "naestro.tenant": tenant,
    }
    with tracer.start_as_current_span(
        f"chat {model}", kind=trace.SpanKind.CLIENT, attributes=attributes
    ) as span:
        yield span


def record_reply(
    span: trace.Span,
    *,
    model: str,
    input_tokens: int,
    output_tokens: int,
    finish_reason: str,
    cost_usd: float,
    gpu_seconds: float,
) -> None:
    span.set_attributes(
        {
            "gen_ai.response.model": model,
            "gen_ai.usage.input_tokens": input_tokens,
            "gen_ai.usage.output_tokens": output_tokens,
            "gen_ai.response.finish_reasons": [finish_reason] if finish_reason else [],
            "naestro.cost_usd": cost_usd,
            "naestro.gpu_seconds": gpu_seconds,
        }
    )
