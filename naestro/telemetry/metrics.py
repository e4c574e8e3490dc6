"""Metrics recorded outside workflows (activities, the API, workers, engine supervision):
prometheus_client instruments built from the catalogue, on the process's default registry.
The same registry carries the Temporal runtime's own series (naestro/telemetry/runtime.py),
so one ``/metrics`` answer per process holds everything."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

from naestro.telemetry import catalogue
from naestro.telemetry.catalogue import Metric

_Instrument = Counter | Histogram | Gauge
disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series


def _build(metric: Metric) -> _Instrument:
    if metric.kind == "counter":
        return Counter(metric.name.removesuffix("_total"), metric.help, metric.labels)
    if metric.kind == "histogram":
        return Histogram(metric.name, metric.help, metric.labels, buckets=metric.buckets)
    return Gauge(metric.name, metric.help, metric.labels)


_INSTRUMENTS: dict[str, _Instrument] = {
    m.name: _build(m) for m in catalogue.ALL if m.source == "process"
}


def _instrument(metric: Metric, labels: dict[str, str]) -> _Instrument:
    assert metric.source == "process", f"{metric.name} is recorded by workflows"
    instrument = _INSTRUMENTS[metric.name]
    return instrument.labels(**labels) if metric.labels else instrument


def count(metric: Metric, value: float = 1.0, **labels: str) -> None:
    instrument = _instrument(metric, labels)  # the series exists from now on, even at 0
    assert isinstance(instrument, Counter), metric.name
    if value > 0:
        instrument.inc(value)


def observe(metric: Metric, value: float, **labels: str) -> None:
    instrument = _instrument(metric, labels)
    assert isinstance(instrument, Histogram), metric.name
    instrument.observe(max(value, 0.0))


def set_gauge(metric: Metric, value: float, **labels: str) -> None:
    instrument = _instrument(metric, labels)
    assert isinstance(instrument, Gauge), metric.name
    instrument.set(value)
