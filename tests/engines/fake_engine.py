"""A stand-in local engine for supervisor tests: an OpenAI-compatible /v1/models that names
its model only after a loading delay (as a server loading weights does), on loopback.

    python fake_engine.py PORT MODEL LOAD_SECONDS
"""

from __future__ import annotations

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, MODEL, LOAD = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
STARTED = time.monotonic()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        loading = time.monotonic() - STARTED < LOAD
        if self.path != "/v1/models" or loading:
            self.send_response(503 if loading else 404)
            self.end_headers()
            return
        body = json.dumps({"object": "list", "data": [{"id": MODEL, "object": "model"}]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        return None


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
