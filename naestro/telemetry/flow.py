"""Metrics recorded by workflow code: through ``workflow.metric_meter()``, which records
nothing while a history replays, so a worker restart or a query never counts a task twice.
The Temporal runtime exports them with its own (naestro/telemetry/runtime.py). Imported by
workflows: temporalio and the catalogue only."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

from naestro.telemetry.catalogue import Metric


def _name(metric: Metric) -> str:
    # The runtime adds the counter suffix itself (counters_total_suffix).
    return metric.name.removesuffix("_total") if metric.kind == "counter" else metric.name


def count(metric: Metric, **labels: str) -> None:
    assert metric.source == "workflow" and metric.kind == "counter", metric.name
    meter = workflow.metric_meter()
    meter.create_counter(_name(metric), metric.help).add(1, labels)


def observe(metric: Metric, seconds: float, **labels: str) -> None:
    assert metric.source == "workflow" and metric.kind == "histogram", metric.name
    meter = workflow.metric_meter()
    meter.create_histogram_float(_name(metric), metric.help, metric.unit).record(
        max(seconds, 0.0), labels
    )


def since(started: datetime) -> float:
    """Seconds from ``started`` to the workflow's now."""
    return (workflow.now() - started).total_seconds()
