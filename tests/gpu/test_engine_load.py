"""An engine's own load, read from its /metrics (vLLM's KV-cache usage and its queue), holds
calls back where GPU memory cannot (vLLM holds its cache's memory from the start): a worker
with calls in flight takes no more while the engine's cache is past the cap or requests
queue inside the engine; a worker with none always takes one."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from temporalio.client import Client

from naestro.config.settings import GpuConfig
from tests.support import make_settings, replay_provider, write_script
from workers.gpu.engine_load import EngineLoad, metrics_url, parse_load
from workers.gpu.node import GpuNode
from workers.gpu.nvml import FakeNvml, fake_gpu
from workers.gpu.slots import GpuSlots
from workers.gpu.telemetry import GpuSampler

CTX: Any = None
V1 = """# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="qwen"} 0.42
vllm:kv_cache_usage_perc{engine="1",model_name="qwen"} 0.97
vllm:num_requests_waiting{engine="0",model_name="qwen"} 0.0
vllm:num_requests_waiting{engine="1",model_name="qwen"} 2.0
vllm:num_requests_running{engine="0",model_name="qwen"} 7.0
"""


def test_the_load_is_the_fullest_cache_and_every_waiting_request() -> None:
    assert parse_load(V1) == EngineLoad(kv_cache=0.97, waiting=2.0)
    before_v1 = 'vllm:gpu_cache_usage_perc{model_name="m"} 0.5\nnot a metric line\n'
    assert parse_load(before_v1) == EngineLoad(kv_cache=0.5, waiting=None)
    assert parse_load("python_gc_objects_collected_total 3\n") == EngineLoad()
    assert metrics_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/metrics"


def test_a_busy_engine_takes_no_more_calls_an_idle_worker_always_one() -> None:
    sampler = GpuSampler(FakeNvml([fake_gpu(0, used_gib=70)]), GpuConfig(), {"vllm": ["0"]})
    sampler.sample()  # 70 of 80 GiB: vLLM's preallocated cache, whatever the load
    slots = GpuSlots("vllm", 8, ["0"], sampler, 0.95)
    slots.observe_load(EngineLoad(kv_cache=0.99, waiting=3))
    assert slots.refusal() is None  # nothing of ours in flight: one call goes
    slots.try_reserve_slot(CTX)
    slots.mark_slot_used(CTX)
    assert slots.refusal() == "engine_queue"
    slots.observe_load(EngineLoad(kv_cache=0.99, waiting=0))
    assert slots.refusal() == "kv_cache"
    slots.observe_load(EngineLoad(kv_cache=0.6, waiting=0))
    assert slots.refusal() is None
    slots.observe_load(None)  # its metrics went silent: concurrency and memory decide
    assert slots.refusal() is None


@contextmanager
def vllm_metrics(text: str) -> Iterator[int]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = text.encode() if self.path == "/metrics" else b""
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def test_the_node_reads_a_vllm_engines_load_into_its_slots(
    client: Client, tmp_path: Path
) -> None:
    script = write_script(tmp_path / "s.jsonl", [])
    with vllm_metrics(V1) as port:
        provider = replay_provider(script, "vllm", location="local")
        engine = {"id": "vllm", "kind": "vllm", "model": "qwen", "port": port, "gpus": [0]}
        settings = make_settings(
            tmp_path,
            [provider],
            engines=[engine],
            gpu={"sample_seconds": 0.1, "engine_lease_priority": 0},
        )
        node = GpuNode(client, settings, ["vllm"], nvml=FakeNvml([fake_gpu(0, used_gib=70)]))
        slots = node.slots("vllm", 8)
        assert slots is not None
        stop = asyncio.Event()
        watching = asyncio.create_task(node._watch_loads(stop))
        for _ in range(50):
            if slots.load is not None:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await watching
    assert slots.load == EngineLoad(kv_cache=0.97, waiting=2.0)
    slots.mark_slot_used(CTX)
    assert slots.refusal() == "engine_queue"
