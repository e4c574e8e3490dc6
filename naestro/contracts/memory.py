"""Memory activities: retrieval, ingestion, recall, write-back and feedback."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from naestro.contracts.base import Frozen
from naestro.contracts.models import ModelCall

Fusion = Literal["rrf", "weighted"]


Verdict = Literal["approve", "reject"]


class SearchRequest(Frozen):
    query: str = Field(min_length=1, max_length=20_000)
    tenant: str = Field(default="default", min_length=1, max_length=100)
    collections: list[str] = Field(default=[], description="empty: every collection")
    since: datetime | None = None
    until: datetime | None = None
    k: int = Field(default=10, ge=1, le=200)
    fusion: Fusion | None = Field(default=None, description="None: memory.fusion")
    legs: Literal["hybrid", "bm25", "vector"] = "hybrid"
    rerank: bool = False


class Hit(Frozen):
    chunk_id: int
    document_id: int | None
    collection: str
    kind: Literal["chunk", "answer"]
    source: str
    heading: str = ""
    content: str
    score: float
    bm25: float | None = None
    bm25_rank: int | None = None
    vector: float | None = None
    vector_rank: int | None = None
    boost: float = 0.0
    rerank: float | None = None
    verified: bool | None = None
    task_id: str | None = None
    created_at: datetime

    @property
    def citation(self) -> str:
        where = f"{self.source} › {self.heading}" if self.heading else self.source
        return f"{where} (chunk {self.chunk_id})"


class SearchResult(Frozen):
    hits: list[Hit] = []
    fusion: str = "rrf"
    index: str | None = None


class IngestRequest(Frozen):
    paths: list[str] = Field(min_length=1)
    tenant: str = Field(default="default", min_length=1, max_length=100)
    collection: str = Field(default="docs", min_length=1, max_length=100)
    task_queue: str | None = Field(default=None, description="IngestWorkflow: memory queue")


class IngestReport(Frozen):
    files: int = 0
    documents: int = 0
    duplicates: int = 0
    chunks: int = 0
    skipped: list[str] = []


class PastTask(Frozen):
    task_id: str
    prompt: str
    plan: str
    status: str
    verified: bool | None
    tokens: int
    usd: float
    similarity: float


class RecallRequest(Frozen):
    tenant: str = "default"
    kind: str = "general"
    prompt: str


class MemoryContext(Frozen):
    hits: list[Hit] = []
    similar: list[PastTask] = []
    estimated_tokens: int | None = None
    estimated_usd: float | None = None


class WriteBackRequest(Frozen):
    task_id: str
    tenant: str = "default"
    kind: str = "general"
    prompt: str
    plan: str = ""
    answer: str = ""
    status: str
    verified: bool | None = None
    judge_score: float | None = None
    tokens: int = 0
    usd: float = 0.0
    rounds: int = 0
    trace: list[ModelCall] = []


class FeedbackRequest(Frozen):
    verdict: Verdict
    tenant: str = "default"
    chunk_id: int | None = None
    task_id: str | None = None
    note: str = ""


class FeedbackResult(Frozen):
    id: int
    approvals: int
    rejections: int
