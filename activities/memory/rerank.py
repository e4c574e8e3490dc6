"""Optional model rerank of the fused candidates through a ``/rerank`` endpoint.

Speaks the Cohere-style body that vLLM, NIM and Jina serve (``{"model", "query",
"documents"}`` -> ``{"results": [{"index", "relevance_score"}]}``) and TEI's
(``{"query", "texts"}`` -> ``[{"index", "score"}]``).
"""

from __future__ import annotations

from typing import Any

import httpx

from naestro.contracts.memory import Hit
from naestro.errors import ProviderError, ProviderRequestRejected, is_retryable_status


def _scores(body: Any, n: int) -> list[float]:
    items = body if isinstance(body, list) else body.get("results", [])
    scores = [0.0] * n
    for item in items:
        score = item.get("relevance_score", item.get("score"))
        scores[int(item["index"])] = float(score)
    return scores


async def rerank(
    client: httpx.AsyncClient, endpoint: str, model: str, query: str, hits: list[Hit]
) -> list[Hit]:
    """Hits reordered by the reranker's relevance (kept in ``Hit.rerank``); boosts still add."""
    if not hits:
        return hits
    docs = [h.content for h in hits]
    body = {"model": model, "query": query, "documents": docs, "texts": docs}
    try:
        reply = await client.post(endpoint.rstrip("/") + "/rerank", json=body)
    except httpx.HTTPError as exc:
        raise ProviderError("rerank", None, str(exc)) from exc
    if reply.status_code >= 400:
        retry = is_retryable_status(reply.status_code)
        cls = ProviderError if retry else ProviderRequestRejected
        raise cls("rerank", reply.status_code, reply.text[:500])
    scores = _scores(reply.json(), len(hits))
    ranked = [
        h.model_copy(update={"rerank": s, "score": s + h.boost})
        for h, s in zip(hits, scores, strict=True)
    ]
    return sorted(ranked, key=lambda h: (-h.score, h.chunk_id))
