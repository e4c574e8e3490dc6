"""``install(service)``: a process's telemetry, once, before its first Temporal client."""

from __future__ import annotations

from temporalio.plugin import SimplePlugin

from naestro.telemetry.runtime import install_runtime
from naestro.telemetry.tracing import client_plugins, install_tracing


def install(service: str = "naestro") -> list[SimplePlugin]:
    """The runtime that exports the SDK's and the workflows' metrics, and the tracer
    provider when the ``OTEL_*`` environment asks for traces (idempotent). Returns the
    plugins every Temporal client of the process should carry (its workers inherit them)."""
    install_runtime()
    install_tracing(service)
    return client_plugins()
