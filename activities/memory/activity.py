"""MemoryActivities: retrieval, ingestion, task write-back and feedback on `naestro.memory`.

Workflows import this module for the method references only; the pool and the embedder
are built lazily on the worker, on first use, from ``memory`` in temporal.yaml.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from temporalio import activity
from temporalio.exceptions import ApplicationError

from naestro.contracts.memory import (
    FeedbackRequest,
    FeedbackResult,
    IngestReport,
    IngestRequest,
    MemoryContext,
    RecallRequest,
    SearchRequest,
    SearchResult,
    WriteBackRequest,
)
from naestro.errors import ConfigError, NaestroError, to_application_error
from naestro.telemetry import catalogue, metrics

if TYPE_CHECKING:
    from activities.memory.service import MemoryService


def _app_error(exc: NaestroError) -> ApplicationError:
    # Imported here: naestro.db pulls in asyncpg, which workflow sandboxes must not import.
    from naestro.db import MemoryUnavailable

    if isinstance(exc, ConfigError | MemoryUnavailable):  # retrying cannot help
        return ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True)
    return to_application_error(exc)


class MemoryActivities:
    def __init__(self, service: MemoryService) -> None:
        self.service = service

    @activity.defn(name="naestro.memory.search")
    async def search(self, request: SearchRequest) -> SearchResult:
        try:
            return await self.service.search(request)
        except NaestroError as exc:
            raise _app_error(exc) from exc

    @activity.defn(name="naestro.memory.recall")
    async def recall(self, request: RecallRequest) -> MemoryContext:
        """Cited context and similar past tasks for a task's Plan."""
        started = time.monotonic()
        try:
            context = await self.service.recall(request)
        except NaestroError as exc:
            metrics.count(catalogue.MEMORY_RECALLS, outcome="error")
            raise _app_error(exc) from exc
        metrics.observe(catalogue.MEMORY_RECALL_SECONDS, time.monotonic() - started)
        hit = context.hits or context.similar
        metrics.count(catalogue.MEMORY_RECALLS, outcome="hit" if hit else "miss")
        return context

    @activity.defn(name="naestro.memory.write_back")
    async def write_back(self, request: WriteBackRequest) -> None:
        try:
            await self.service.write_back(request)
        except NaestroError as exc:
            metrics.count(catalogue.MEMORY_WRITES, outcome="error")
            raise _app_error(exc) from exc
        metrics.count(catalogue.MEMORY_WRITES, outcome="ok")

    @activity.defn(name="naestro.memory.feedback")
    async def feedback(self, request: FeedbackRequest) -> FeedbackResult:
        try:
            return await self.service.feedback(request)
        except NaestroError as exc:
            raise _app_error(exc) from exc

    @activity.defn(name="naestro.memory.ingest")
    async def ingest(self, request: IngestRequest) -> IngestReport:
        """Ingest files, heartbeating the file index; a retry resumes after the last one."""
        details = activity.info().heartbeat_details
        start = int(details[0]) if details else 0

        def beat(done: int, total: int, path: str) -> None:
            activity.heartbeat(done, total, path)

        try:
            ingestor = await self.service.ingestor()
            return await ingestor.run(request, on_progress=beat, start=start)
        except NaestroError as exc:
            raise _app_error(exc) from exc
        except asyncio.CancelledError:
            activity.logger.info("ingest cancelled after file %s", start)
            raise
