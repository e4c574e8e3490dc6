"""MemoryService: the memory's clients (pool, embedder, rerank HTTP) and its operations.

Shared by MemoryActivities (on the memory worker) and the CLI (which runs ingestion and
feedback in-process). Everything is built on first use, so a worker that never touches
memory never needs Postgres.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import httpx

from activities.memory import feedback, retrieval, tasks
from activities.memory.embedders import CheckedEmbedder, make_embedder
from activities.memory.ingest import Ingestor
from activities.memory.rerank import rerank
from naestro import db
from naestro.config.settings import MemoryConfig
from naestro.contracts.memory import (
    FeedbackRequest,
    FeedbackResult,
    Hit,
    MemoryContext,
    PastTask,
    RecallRequest,
    SearchRequest,
    SearchResult,
    WriteBackRequest,
)
from naestro.pii.exposure import for_context

log = logging.getLogger(__name__)


def _related(hit: Hit, min_similarity: float) -> bool:
    """A chunk joins the plan's context only when it is about the prompt (its embedding's
    cosine), whatever its rank: with few documents, top-k alone returns unrelated ones."""
    return hit.vector is not None and hit.vector >= min_similarity


def _masked_hit(hit: Hit) -> Hit:
    # The source is a path or "task:<id>" that Naestro names; ids can look like secrets.
    return hit.model_copy(
        update={"content": for_context(hit.content), "heading": for_context(hit.heading)}
    )


def _masked_task(task: PastTask) -> PastTask:
    return task.model_copy(
        update={"prompt": for_context(task.prompt), "plan": for_context(task.plan)}
    )


def masked(context: MemoryContext) -> MemoryContext:
    """Recalled context as a plan prompt may carry it: ingested documents and past tasks
    can hold PII of anyone, so every PII found is masked ([EMAIL]) before it leaves."""
    return context.model_copy(
        update={
            "hits": [_masked_hit(h) for h in context.hits],
            "similar": [_masked_task(t) for t in context.similar],
        }
    )


class MemoryService:
    def __init__(
        self,
        cfg: MemoryConfig,
        url: str | None = None,
        *,
        embedder: CheckedEmbedder | None = None,
        pool_size: int = 8,
    ) -> None:
        self.cfg = cfg
        self._url = url
        self._pool: asyncpg.Pool | None = None
        self._embedder = embedder
        self._http: httpx.AsyncClient | None = None
        self._pool_size = pool_size
        self._lock = asyncio.Lock()

    async def pool(self) -> asyncpg.Pool:
        async with self._lock:
            if self._pool is None:
                self._pool = await db.create_pool(
                    self._url or db.database_url(self.cfg), self._pool_size
                )
            return self._pool

    @property
    def embedder(self) -> CheckedEmbedder:
        if self._embedder is None:
            self._embedder = make_embedder(self.cfg.embedder, self.cfg.dim)
        return self._embedder

    async def ingestor(self) -> Ingestor:
        return Ingestor(await self.pool(), self.cfg, self.embedder)

    async def search(self, req: SearchRequest) -> SearchResult:
        pool = await self.pool()
        query = None
        if req.legs != "bm25":
            [query] = await self.embedder.embed([req.query])
        hits = await retrieval.search(pool, self.cfg, req, query)
        if req.rerank and self.cfg.rerank_endpoint:
            self._http = self._http or httpx.AsyncClient(timeout=60)
            hits = await rerank(self._http, self.cfg.rerank_endpoint, self.cfg.rerank_model,
                                req.query, hits[: self.cfg.candidates])  # fmt: skip
        async with pool.acquire() as conn:
            index = await db.vector_index_kind(conn)
        return SearchResult(hits=hits[: req.k], fusion=req.fusion or self.cfg.fusion, index=index)

    async def recall(self, req: RecallRequest) -> MemoryContext:
        pool = await self.pool()
        [embedding] = await self.embedder.embed([req.prompt])
        hits = []
        if self.cfg.context_chunks:
            search = SearchRequest(query=req.prompt[:20_000], tenant=req.tenant,
                                   k=self.cfg.context_chunks)  # fmt: skip
            found = await retrieval.search(pool, self.cfg, search, embedding)
            hits = [h for h in found if _related(h, self.cfg.context_min_similarity)][: search.k]
        similar = await tasks.similar_tasks(
            pool,
            req.tenant,
            req.kind,
            embedding,
            self.cfg.similar_tasks,
            self.cfg.similar_min_similarity,
        )
        est_tokens, est_usd = tasks.estimate_budget(similar)
        context = MemoryContext(
            hits=hits, similar=similar, estimated_tokens=est_tokens, estimated_usd=est_usd
        )
        return await asyncio.to_thread(masked, context)  # CPU work: off the event loop

    async def write_back(self, req: WriteBackRequest) -> None:
        """Keep a task as past work; one answered by scripted replies is not past work (a
        later task would plan from a script), unless memory.write_back_scripted says so."""
        if any(c.scripted for c in req.trace) and not self.cfg.write_back_scripted:
            log.info("memory: task %s was scripted; not written back", req.task_id)
            return
        await tasks.write_back(await self.ingestor(), req)

    async def feedback(self, req: FeedbackRequest) -> FeedbackResult:
        pool = await self.pool()
        async with pool.acquire() as conn:
            return await feedback.record(conn, req)

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.close()
        if self._http is not None:
            await self._http.aclose()
