"""The overhead of telemetry on bench/overhead.py's workload (TaskWorkflow on the replay
provider), off vs on in one run: the two sides alternate, each in a fresh process with its
own dev server. "On" is the production setting: the Temporal runtime exporting metrics,
traces through Temporal's OpenTelemetry plugin and a span per model call, exported by OTLP
to a loopback receiver that accepts and discards them. Both sides record Naestro's own
process metrics (in-memory counters). Prints mean ms per model call of each side and the
on/off ratio last (target <= 1.05).

    .venv/bin/python bench/telemetry.py [--tasks 20] [--rounds 5] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OVERHEAD = ROOT / "bench" / "overhead.py"


class _Sink(BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver that takes every export and keeps nothing."""

    received = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        _Sink.received += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def otlp_sink() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def one_side(on: bool, endpoint: str, tasks: int, rounds: int) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    args = [sys.executable, str(OVERHEAD), "--tasks", str(tasks), "--rounds", str(rounds)]
    args += ["--setups", "embedded"]
    if on:
        env.update(OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, OTEL_SERVICE_NAME="naestro-bench")
        args.append("--telemetry")
    out = subprocess.run(args, env=env, check=True, capture_output=True, text=True).stdout
    figures = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    return float(figures["taskworkflow_ms_per_call"])


def main(tasks: int, rounds: int, repeats: int) -> None:
    off: list[float] = []
    on: list[float] = []
    with otlp_sink() as endpoint:
        for _ in range(repeats):  # alternate, so drift on the machine hits both sides
            off.append(one_side(False, endpoint, tasks, rounds))
            on.append(one_side(True, endpoint, tasks, rounds))
        exports = _Sink.received
    off_ms, on_ms = statistics.mean(off), statistics.mean(on)
    print(f"telemetry_off_ms_per_call {off_ms:.2f}")
    print(f"telemetry_on_ms_per_call {on_ms:.2f}")
    print(f"otlp_exports_received {exports}")
    print(f"telemetry_overhead_ratio {on_ms / off_ms:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    a = parser.parse_args()
    main(a.tasks, a.rounds, a.repeats)
