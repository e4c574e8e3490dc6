"""Embedders: the offline MiniLM, an OpenAI-compatible /v1/embeddings server on loopback
(batching, auth, errors) and the schema-width check."""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

from activities.memory.embedders import (
    CheckedEmbedder,
    EmbeddingDimensionError,
    OpenAIEmbedder,
)
from naestro.config.settings import EmbedderConfig
from naestro.errors import ProviderRequestRejected


class _Server:
    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.batches: list[list[str]] = []
        self.auth: list[str | None] = []
        self.status = 200


def _handler(state: _Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.batches.append(body["input"])
            state.auth.append(self.headers.get("Authorization"))
            if state.status != 200:
                payload: dict[str, Any] = {"error": {"message": "bad model"}}
            else:
                data = [
                    {"index": i, "embedding": [float(len(t))] + [0.5] * (state.dim - 1)}
                    for i, t in enumerate(body["input"])
                ]
                payload = {"data": list(reversed(data)), "model": body["model"]}
            raw = json.dumps(payload).encode()
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    return Handler


@pytest.fixture
def server() -> Iterator[tuple[_Server, str]]:
    state = _Server(dim=384)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


async def test_local_minilm_is_offline_normalised_and_semantic(
    local_embedder: CheckedEmbedder,
) -> None:
    vecs = await local_embedder.embed(
        ["A man is eating food.", "A man is eating a piece of bread.", "The girl holds a baby."]
    )
    assert vecs.shape == (3, 384) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    # Reference values of sentence-transformers/all-MiniLM-L6-v2 for this pair: 0.7553.
    assert float(vecs[0] @ vecs[1]) == pytest.approx(0.7553, abs=2e-3)
    assert float(vecs[0] @ vecs[2]) < 0.2


async def test_openai_compatible_batches_in_order_with_key(server: tuple[_Server, str]) -> None:
    state, url = server
    key_env = f"NAESTRO_TEST_EMBED_KEY_{uuid.uuid4().hex[:6]}"
    os.environ[key_env] = "sk-test"
    cfg = EmbedderConfig(kind="openai", endpoint=url, model="bge", batch_size=2,
                         api_key_env=key_env)  # fmt: skip
    inner = OpenAIEmbedder(cfg)
    try:
        vecs = await CheckedEmbedder(inner, 384).embed(["a", "bb", "ccc", "dddd", "eeeee"])
    finally:
        del os.environ[key_env]
        await inner.aclose()
    assert [len(b) for b in state.batches] == [2, 2, 1]
    assert vecs[:, 0].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]  # reordered by index
    assert state.auth == ["Bearer sk-test"] * 3


async def test_width_mismatch_and_rejections_are_clear(server: tuple[_Server, str]) -> None:
    state, url = server
    state.dim = 768
    inner = OpenAIEmbedder(EmbedderConfig(kind="openai", endpoint=url, model="big"))
    with pytest.raises(EmbeddingDimensionError, match=r"768-dimensional .* vector\(384\)"):
        await CheckedEmbedder(inner, 384).embed(["x"])
    state.status = 400
    with pytest.raises(ProviderRequestRejected, match="HTTP 400"):
        await inner.embed(["x"])
    await inner.aclose()
