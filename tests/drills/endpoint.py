"""A model endpoint a drill can take down and bring back: tests/providers/wire.py's loopback
OpenAI-wire server, answering each task's calls by what they ask (a verdict for the judge,
text otherwise), whose listener closes and whose connections in flight are cut on ``down``,
and which listens again on the same port on ``up``."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from naestro.config.settings import Settings
from tests.providers.payloads import openai_completion, openai_usage
from tests.providers.wire import HOST, Recorded, Reply, WireServer, _Handler, _Server
from tests.support import make_settings
from tests.workflow.scripts import verdict

PATH = "/v1/chat/completions"
MODEL = "drill-model"
# The outage's failures open the provider's breaker: with the default 30 s cooldown the
# tasks wait ~30-60 s after the endpoint is back (docs/testing.md, Drills).
COOLDOWN_S = 5


def engine_settings(tmp_path: Path, port: int) -> Settings:
    """A load's settings with the endpoint on ``port`` as its one provider (a vLLM engine),
    memory on, heartbeats every 5 s, and a short breaker cooldown."""
    provider = {
        "id": "engine",
        "engine": "vllm",
        "endpoint": f"http://127.0.0.1:{port}/v1",
        "model": MODEL,
        "max_concurrency": 64,
    }
    return make_settings(
        tmp_path,
        [provider],
        policy={"heartbeat_timeout_seconds": 5},
        memory={"enabled": True},
        governor={"breaker_cooldown_seconds": COOLDOWN_S},
    )


_MARKER = re.compile(r"Drill [^,]+, task (\d+):")


class _CuttableServer(_Server):
    """Remembers its open connections, so ``cut`` can end the calls in flight."""

    def __init__(self, port: int) -> None:
        self.open: set[socket.socket] = set()
        self.guard = threading.Lock()
        super().__init__((HOST, port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.guard:
            self.open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.guard:
            self.open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A connection the drill cut is the drill's doing, not news."""

    def cut(self) -> None:
        with self.guard:
            for conn in self.open:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class Endpoint(WireServer):
    def __init__(self, answer: str, delay_s: float) -> None:
        super().__init__()
        self.port: int = self._httpd.server_address[1]
        self._httpd.server_close()  # ours replaces it on the same port (SO_REUSEADDR)
        self._text, self._delay = answer, delay_s
        self._start()

    def __enter__(self) -> Endpoint:
        super().__enter__()
        return self

    def _start(self) -> None:
        self._httpd = _CuttableServer(self.port)
        self._httpd.wire = self
        self._thread = threading.Thread(target=self._serve, name="drill-endpoint")

    def down(self) -> None:
        """Close the listener and cut every call in flight (the engine process died)."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()
        assert isinstance(self._httpd, _CuttableServer)
        self._httpd.cut()

    def up(self) -> None:
        """Listen again on the same port (the engine came back)."""
        self._start()
        self._thread.start()

    def answer(self, request: Recorded) -> Reply:
        if request.method == "GET" and request.path.endswith("/models"):
            return Reply(body={"object": "list", "data": [{"id": MODEL}]})
        if request.path != PATH:
            return Reply(404, {"error": {"message": f"no {request.path} here"}})
        with self._lock:
            self._requests.append(request)
        body = json.dumps(request.body)
        text = verdict(0.9) if "response_format" in body or "verdict" in body else self._text
        usage = openai_usage(20, 10)
        return Reply(body=openai_completion(text, model=MODEL, usage=usage), delay_s=self._delay)

    def calls(self, ids: Sequence[str]) -> Counter[str]:
        """Chat completions received per task (``ids[n]`` is the task marked ``task n:``)."""
        found: Counter[str] = Counter()
        for r in self.requests:
            marker = _MARKER.search(json.dumps(r.body))
            if marker:
                found[ids[int(marker.group(1))]] += 1
        return found
