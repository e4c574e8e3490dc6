"""Optional model rerank through a /rerank endpoint on loopback (vLLM/NIM and TEI shapes)."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from activities.memory.chunking import Chunk
from activities.memory.embedders import CheckedEmbedder
from activities.memory.service import MemoryService
from activities.memory.store import NewDocument
from naestro.contracts.memory import SearchRequest
from tests.memory.conftest import memory_config


def _handler(shape: dict[str, str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            # The reranker prefers the document that mentions "cats".
            scores = [0.9 if "cats" in d else 0.1 for d in body["documents"]]
            items = [{"index": i, "relevance_score": s} for i, s in enumerate(scores)]
            if shape["kind"] == "tei":
                items = [{"index": i, "score": s} for i, s in enumerate(scores)]
            payload: Any = items if shape["kind"] == "tei" else {"results": items}
            raw = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    return Handler


@pytest.fixture
def reranker() -> Iterator[tuple[dict[str, str], str]]:
    shape = {"kind": "cohere"}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(shape))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield shape, f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
async def rerank_service(
    db_url: str, local_embedder: CheckedEmbedder, reranker: tuple[dict[str, str], str]
) -> AsyncIterator[MemoryService]:
    cfg = memory_config(rerank_endpoint=reranker[1], rerank_model="bge-reranker")
    svc = MemoryService(cfg, db_url, embedder=local_embedder)
    yield svc
    await svc.aclose()


async def test_rerank_reorders_and_keeps_scores(
    rerank_service: MemoryService, reranker: tuple[dict[str, str], str]
) -> None:
    ingestor = await rerank_service.ingestor()
    for name, text in (("dogs.md", "pets: dogs and dogs and dogs"), ("cats.md", "pets: cats")):
        await ingestor.add_text(NewDocument("acme", "docs", name, text, [Chunk("", text)]))
    plain = await rerank_service.search(SearchRequest(query="dogs pets", tenant="acme"))
    assert plain.hits[0].source == "dogs.md" and plain.hits[0].rerank is None
    for kind in ("cohere", "tei"):
        reranker[0]["kind"] = kind
        ranked = await rerank_service.search(
            SearchRequest(query="dogs pets", tenant="acme", rerank=True)
        )
        assert [h.source for h in ranked.hits] == ["cats.md", "dogs.md"]
        assert ranked.hits[0].rerank == pytest.approx(0.9)
        assert ranked.hits[1].bm25 is not None  # the fused leg scores stay on the hit
