"""Telemetry: Prometheus metrics (catalogue.py lists every one) and OpenTelemetry traces.

Workflows record through ``flow`` (temporalio only: this package's modules are imported
one by one, and workflows import no exporter); everything else through ``metrics``;
``setup.install(service)`` wires a process. docs/telemetry.md says what is exported.
"""
