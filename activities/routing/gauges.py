"""The routing governor's live state as Prometheus gauges, read at each scrape: breaker
open or not, latency and error-rate moving averages per provider (the catalogue's
"scrape" metrics). The newest governor of the process answers for a provider."""

from __future__ import annotations

import itertools
import threading
import weakref
from collections.abc import Iterator

from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric as PromMetric
from prometheus_client.registry import Collector

from activities.routing.governor import Governor
from naestro.telemetry import catalogue

_governors: weakref.WeakValueDictionary[int, Governor] = weakref.WeakValueDictionary()
_lock = threading.Lock()
_order = itertools.count()  # keys in creation order: the newest governor wins
_registered = False


class GovernorCollector(Collector):
    def describe(self) -> list[PromMetric]:
        return []

    def collect(self) -> Iterator[PromMetric]:
        breaker = _family(catalogue.BREAKER_OPEN)
        latency = _family(catalogue.GOVERNOR_LATENCY)
        errors = _family(catalogue.GOVERNOR_ERRORS)
        latest: dict[str, dict[str, float | int | str | None]] = {}
        for _, governor in sorted(_governors.items()):  # oldest first
            latest.update(governor.snapshot())
        for provider, state in sorted(latest.items()):
            breaker.add_metric([provider], 1.0 if state["breaker"] == "open" else 0.0)
            ema = state["latency_ms_ema"]
            if isinstance(ema, (int, float)):
                latency.add_metric([provider], ema / 1000)
            rate = state["error_rate_ema"]
            if isinstance(rate, (int, float)):
                errors.add_metric([provider], float(rate))
        yield from (breaker, latency, errors)


def watch(governor: Governor) -> None:
    """Export ``governor``'s state (for as long as it lives)."""
    global _registered
    with _lock:
        _governors[next(_order)] = governor
        if not _registered:
            REGISTRY.register(GovernorCollector())
            _registered = True


def _family(metric: catalogue.Metric) -> GaugeMetricFamily:
    return GaugeMetricFamily(metric.name, metric.help, labels=list(metric.labels))
