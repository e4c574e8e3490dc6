"""A loopback HTTP server that answers like a model provider, from a script.

Real HTTP on 127.0.0.1 with an ephemeral port, served from a thread so it runs whatever
the test's event loop does. Each path gets a queue of :class:`Reply`; the last one repeats.
Every request is recorded (method, path, query, headers, JSON body) for assertions.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

HOST = "127.0.0.1"
TOKENIZE_PATHS = ("/tokenize", "/extras/tokenize/count")  # vLLM's and llama.cpp's


@dataclass(frozen=True)
class Reply:
    """One scripted answer: a JSON document, or server-sent events sent one chunk each."""

    status: int = 200
    body: Any = None
    events: tuple[str, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # answer this late (a busy server)
    frame_gap_s: float = 0.0  # between a stream's events (a model that writes slowly)


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # names lower-cased
    body: Any  # the parsed JSON body, or None


class WireServer:
    def __init__(self) -> None:
        self._routes: dict[str, deque[Reply]] = {}
        self._requests: list[Recorded] = []
        self._served: list[str] = []
        self._lock = threading.Lock()
        self._httpd = _Server((HOST, 0), _Handler)
        self._httpd.wire = self
        self._thread = threading.Thread(target=self._serve, name="wire-server")

    def __enter__(self) -> WireServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def _serve(self) -> None:
        # A short poll keeps shutdown() (and so each test's teardown) quick.
        self._httpd.serve_forever(poll_interval=0.02)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._httpd.server_address[1]}"

    def script(self, path: str, *replies: Reply) -> None:
        """Answer ``path`` (query excluded) with ``replies`` in order, the last one forever."""
        with self._lock:
            self._routes[path] = deque(replies)

    def serve_models(self, *models: str) -> None:
        """Answer GET .../models listing ``models`` (as a local engine does; routing checks
        it), unrecorded, unless a test scripts that path itself."""
        with self._lock:
            self._served = list(models)

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    def last(self) -> Recorded:
        with self._lock:
            return self._requests[-1]

    def answer(self, request: Recorded) -> Reply:
        with self._lock:
            listing = request.method == "GET" and request.path.endswith("/models")
            if listing and self._served and request.path not in self._routes:
                return Reply(body={"object": "list", "data": [{"id": m} for m in self._served]})
            if request.path in TOKENIZE_PATHS and request.path not in self._routes:
                # Routing asks a local engine to count a prompt before each call; a test
                # that does not script it sees the byte-level bound used, and no request.
                return Reply(404, {"error": {"message": "no tokenizer here"}})
            self._requests.append(request)
            queue = self._routes.get(request.path)
            if not queue:
                message = f"no scripted reply for {request.method} {request.path}"
                return Reply(404, {"error": {"message": message}})
            return queue.popleft() if len(queue) > 1 else queue[0]


def _as_asked(reply: Reply, request: Recorded) -> Reply:
    """A scripted chat completion to a request that asked to stream is streamed, as a real
    OpenAI-compatible server does: the message as one content chunk, the finish, then
    the usage chunk ``include_usage`` asks for."""
    body = reply.body
    asked = isinstance(request.body, dict) and request.body.get("stream") is True
    if not asked or reply.events or not isinstance(body, dict):
        return reply
    if body.get("object") != "chat.completion":
        return reply
    from tests.providers.payloads import openai_stream

    message = body["choices"][0]["message"]
    if message.get("tool_calls"):
        return reply  # scripted as the test wants it (see payloads.openai_tool_call_stream)
    pieces = [message["content"]] if message.get("content") else []
    streamed = openai_stream(pieces, model=body["model"], usage=body.get("usage"))
    return Reply(events=streamed.events, headers=reply.headers, delay_s=reply.delay_s)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released): connections are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
    return port


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    wire: WireServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up (a test that stops reading a stream) is not news.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, and chunked replies for streams
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path, _, query = self.path.partition("?")
        recorded = Recorded(
            method=self.command,
            path=path,
            query=query,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=json.loads(raw) if raw else None,
        )
        reply = _as_asked(self.server.wire.answer(recorded), recorded)
        if reply.delay_s:
            time.sleep(reply.delay_s)
        if reply.events:
            self._send_events(reply)
        else:
            self._send_json(reply)

    do_GET = do_POST

    def _send_json(self, reply: Reply) -> None:
        data = b"" if reply.body is None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_events(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        for i, frame in enumerate(reply.events):
            if i and reply.frame_gap_s:
                time.sleep(reply.frame_gap_s)
            data = frame.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: pytest shows the recorded requests when an assertion fails."""
