"""Real Prometheus and Jaeger processes on loopback ports for the telemetry tests: started
in a temporary directory, stopped (and waited for) when the test ends."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from tests.support import free_port

ROOT = Path(__file__).resolve().parent.parent
ALERTS = ROOT / "infra" / "prometheus" / "alerts.yml"


def tool(name: str, script: str) -> str:
    found = shutil.which(name) or str(ROOT / ".naestro" / "bin" / name)
    assert Path(found).exists(), f"{name} is not installed: run {script}"
    return found


@contextmanager
def _process(args: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"{url}: the process exited:\n{log.read_text()[-3000:]}"
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer in {seconds:.0f}s:\n{log.read_text()[-3000:]}")


@dataclass
class Prometheus:
    url: str

    async def query(self, expr: str) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as http:
            reply = await http.get("/api/v1/query", params={"query": expr})
        reply.raise_for_status()
        result: list[dict[str, Any]] = reply.json()["data"]["result"]
        return result

    async def eventually(self, expr: str, seconds: float = 30) -> list[dict[str, Any]]:
        """The query's result once it is not empty (scrapes run every second)."""
        deadline = time.monotonic() + seconds
        while True:
            result = await self.query(expr)
            if result or time.monotonic() > deadline:
                return result
            await asyncio.sleep(0.5)

    async def get(self, path: str) -> Any:
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as http:
            reply = await http.get(path)
        reply.raise_for_status()
        return reply.json()["data"]


@contextmanager
def prometheus(tmp: Path, targets: dict[str, list[str]]) -> Iterator[Prometheus]:
    """Prometheus scraping ``targets`` (job -> host:port list) every second, with Naestro's
    alert rules loaded and evaluated every second."""
    binary = tool("prometheus", "scripts/install-monitoring-tools.sh")
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ALERTS)],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": hosts}]}
            for job, hosts in targets.items()
        ],
    }
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    args = [
        binary,
        f"--config.file={tmp / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    log = tmp / "prometheus.log"
    with _process(args, log) as proc:
        url = f"http://127.0.0.1:{port}"
        _wait_http(f"{url}/-/ready", proc, log)
        yield Prometheus(url)


@dataclass
class Jaeger:
    otlp: str  # OTLP/HTTP traces endpoint
    query: str  # the query API's base URL

    async def traces(self, service: str) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=self.query, timeout=10) as http:
            reply = await http.get("/api/traces", params={"service": service, "limit": 50})
        reply.raise_for_status()
        data: list[dict[str, Any]] = reply.json().get("data") or []
        return data


@contextmanager
def jaeger(tmp: Path) -> Iterator[Jaeger]:
    """Jaeger (all in one, in-memory storage) with OTLP/HTTP and its query API on loopback."""
    binary = tool("jaeger", "scripts/install-trace-tools.sh")
    otlp, query = free_port(), free_port()
    config = {
        "service": {
            "extensions": ["jaeger_storage", "jaeger_query"],
            "pipelines": {
                "traces": {
                    "receivers": ["otlp"],
                    "processors": ["batch"],
                    "exporters": ["jaeger_storage_exporter"],
                }
            },
            "telemetry": {"metrics": {"level": "none"}},
        },
        "extensions": {
            "jaeger_storage": {"backends": {"memstore": {"memory": {"max_traces": 10000}}}},
            "jaeger_query": {
                "storage": {"traces": "memstore"},
                "http": {"endpoint": f"127.0.0.1:{query}"},
                "grpc": {"endpoint": f"127.0.0.1:{free_port()}"},
            },
        },
        "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"127.0.0.1:{otlp}"}}}},
        "processors": {"batch": {"timeout": "100ms"}},
        "exporters": {"jaeger_storage_exporter": {"trace_storage": "memstore"}},
    }
    (tmp / "jaeger.yaml").write_text(yaml.safe_dump(config))
    log = tmp / "jaeger.log"
    with _process([binary, f"--config={tmp / 'jaeger.yaml'}"], log) as proc:
        base = f"http://127.0.0.1:{query}"
        _wait_http(f"{base}/api/services", proc, log)
        yield Jaeger(f"http://127.0.0.1:{otlp}/v1/traces", base)


class Switch(SpanProcessor):
    """A span processor a test can point at its own processors and detach again: the
    process's tracer provider is made once and keeps its processors for the session."""

    def __init__(self) -> None:
        self.targets: list[SpanProcessor] = []

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        for target in self.targets:
            target.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        for target in self.targets:
            target.on_end(span)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return all(t.force_flush(timeout_millis) for t in self.targets)

    def shutdown(self) -> None:
        for target in self.targets:
            target.shutdown()

    @contextmanager
    def routing(self, targets: list[SpanProcessor]) -> Iterator[None]:
        self.targets = targets
        try:
            yield
        finally:
            self.force_flush(5000)
            self.targets = []
            for target in targets:
                target.shutdown()


SWITCH = Switch()
