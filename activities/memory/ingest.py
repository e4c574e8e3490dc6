"""Ingestion: files -> chunks -> embeddings -> one transaction per document.

Resumable by construction: a document is committed whole or not at all, and one whose
content hash is already stored is skipped, so re-running an interrupted job continues
where it stopped. ``on_progress`` is called after every file (the CLI draws a progress bar,
the activity heartbeats with it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from activities.memory.chunking import SUPPORTED, UnsupportedFile, chunk_text, read_file
from activities.memory.embedders import CheckedEmbedder
from activities.memory.store import NewDocument, add_document, content_hash, known_hashes
from naestro.config.settings import MemoryConfig
from naestro.contracts.memory import IngestReport, IngestRequest
from naestro.db import ensure_partitions
from naestro.errors import NaestroError

Progress = Callable[[int, int, str], Awaitable[None] | None]
SKIP_DIRS = {".git", ".venv", "node_modules", "__pycache__", ".naestro", ".mypy_cache"}


class IngestError(NaestroError):
    """A path to ingest does not exist or cannot be read."""


def expand(paths: list[str]) -> list[Path]:
    """Files under the given paths (directories recursively, supported types only), sorted."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.is_file()
                and p.suffix.lower() in SUPPORTED
                and not SKIP_DIRS.intersection(p.parts)
            )
        elif path.is_file():
            if path.suffix.lower() not in SUPPORTED:
                raise UnsupportedFile(f"{path}: cannot ingest {path.suffix!r} files")
            files.append(path)
        else:
            raise IngestError(f"{path}: no such file or directory")
    return list(dict.fromkeys(files))


class Ingestor:
    def __init__(self, pool: asyncpg.Pool, cfg: MemoryConfig, embedder: CheckedEmbedder) -> None:
        self.pool = pool
        self.cfg = cfg
        self.embedder = embedder

    async def add_text(self, doc: NewDocument) -> int | None:
        texts = [f"{c.heading}\n{c.content}" if c.heading else c.content for c in doc.chunks]
        vectors = await self.embedder.embed(texts)
        async with self.pool.acquire() as conn:
            return await add_document(conn, doc, vectors, self.cfg)

    async def run(
        self, request: IngestRequest, on_progress: Progress | None = None, start: int = 0
    ) -> IngestReport:
        files = expand(request.paths)
        async with self.pool.acquire() as conn:
            await ensure_partitions(conn, datetime.now(UTC), self.cfg.partitions_ahead)
            seen = await known_hashes(conn, request.tenant, request.collection)
        added = duplicates = chunks = 0
        skipped: list[str] = []
        for i, file in enumerate(files[start:], start):
            text = read_file(file)
            digest = content_hash(text)
            parts = chunk_text(text, file.suffix, self.cfg.chunk_chars)
            if digest in seen:
                duplicates += 1
            elif not parts:
                skipped.append(str(file))
            else:
                doc = NewDocument(
                    request.tenant, request.collection, str(file), text, parts, title=file.name
                )
                if await self.add_text(doc) is None:
                    duplicates += 1
                else:
                    added, chunks = added + 1, chunks + len(parts)
                seen.add(digest)
            if on_progress is not None:
                maybe = on_progress(i + 1, len(files), str(file))
                if maybe is not None:
                    await maybe
        return IngestReport(
            files=len(files), documents=added, duplicates=duplicates, chunks=chunks, skipped=skipped
        )
