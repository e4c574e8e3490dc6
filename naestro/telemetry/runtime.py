"""One Temporal runtime per process, exporting the SDK's metrics and the workflows' own
(naestro/telemetry/flow.py) in Prometheus format on a private loopback port; a collector
folds them into the process's prometheus_client registry, so the process's one
``/metrics`` endpoint (``telemetry.metrics_address``, or the API's own route) serves
both."""

from __future__ import annotations

import logging
import socket
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, start_http_server
from prometheus_client.metrics_core import Metric as PromMetric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from naestro.telemetry import catalogue
from naestro.telemetry.catalogue import LONG_SECONDS

log = logging.getLogger(__name__)
SCRAPE_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class RuntimeMetrics:
    runtime: Runtime
    url: str  # the runtime's own exporter, loopback only


class RuntimeCollector(Collector):
    """The Temporal runtime's series, read from its exporter at each scrape."""

    def __init__(self, url: str) -> None:
        self.url = url

    def describe(self) -> list[PromMetric]:
        return []  # unchecked: the runtime's names are not known in advance

    def collect(self) -> Iterator[PromMetric]:
        try:
            with urllib.request.urlopen(self.url, timeout=SCRAPE_TIMEOUT_SECONDS) as reply:
                text = reply.read().decode("utf-8")
        except OSError as exc:  # the scrape goes on with the process's own series
            log.warning("temporal runtime metrics unavailable: %s", exc)
            return
        yield from text_string_to_metric_families(text)


_lock = threading.Lock()
_installed: RuntimeMetrics | None = None


def install_runtime() -> RuntimeMetrics:
    """The process's Temporal runtime (made the default), once; every client connected
    afterwards records its metrics there. Idempotent."""
    global _installed
    with _lock:
        if _installed is None:
            port = _free_loopback_port()
            overrides = {
                m.name: list(m.buckets)
                for m in catalogue.ALL
                if m.source == "workflow" and m.kind == "histogram"
            }
            # The SDK's own latency histograms (seconds) get the long buckets too: model
            # activities on CPU engines run for minutes.
            overrides.setdefault("activity_execution_latency", list(LONG_SECONDS))
            runtime = Runtime(
                telemetry=TelemetryConfig(
                    metrics=PrometheusConfig(
                        bind_address=f"127.0.0.1:{port}",
                        counters_total_suffix=True,
                        durations_as_seconds=True,
                        histogram_bucket_overrides=overrides,
                    ),
                )
            )
            Runtime.set_default(runtime, error_if_already_set=False)
            url = f"http://127.0.0.1:{port}/metrics"
            REGISTRY.register(RuntimeCollector(url))
            _installed = RuntimeMetrics(runtime, url)
        return _installed


def serve(address: str) -> WSGIServer:
    """Serve the process's registry at ``http://address/metrics`` (a daemon thread);
    ``shutdown()`` the returned server to stop it."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"telemetry.metrics_address: {address!r} is not HOST:PORT")
    server, _thread = start_http_server(int(port), addr=host.strip("[]"))
    return server


def _free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
