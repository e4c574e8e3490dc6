"""The blob store: content-addressed bytes in Postgres (the ``blobs`` table, migration 005).

Workspaces (an uploaded archive or git bundle) and payloads too large for Temporal history
live here; workflows carry a :class:`~naestro.contracts.blobs.BlobRef`. The key is the
sha256 of the bytes, so a retried store finds its row and returns the same reference.
"""

from __future__ import annotations

import hashlib

import asyncpg

from naestro.contracts.blobs import BlobRef
from naestro.errors import NaestroError


class BlobMissing(NaestroError):
    """No blob has this sha256 (never stored, or stored in another database)."""


def ref_of(data: bytes, media_type: str = "application/octet-stream") -> BlobRef:
    return BlobRef(sha256=hashlib.sha256(data).hexdigest(), size=len(data), media_type=media_type)


class BlobStore:
    """Put and get blobs through an asyncpg pool (the caller owns the pool)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def put(self, data: bytes, media_type: str = "application/octet-stream") -> BlobRef:
        ref = ref_of(data, media_type)
        await self._pool.execute(
            "INSERT INTO blobs (sha256, media_type, size, data) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (sha256) DO NOTHING",
            ref.sha256,
            media_type,
            ref.size,
            data,
        )
        return ref

    async def get(self, ref: BlobRef | str) -> bytes:
        sha = ref if isinstance(ref, str) else ref.sha256
        data: bytes | None = await self._pool.fetchval(
            "SELECT data FROM blobs WHERE sha256 = $1", sha
        )
        if data is None:
            raise BlobMissing(f"blob {sha[:12]}… is not in the blob store")
        if hashlib.sha256(data).hexdigest() != sha:
            raise BlobMissing(f"blob {sha[:12]}… is corrupt (its bytes hash differently)")
        return bytes(data)

    async def exists(self, sha256: str) -> bool:
        found = await self._pool.fetchval("SELECT 1 FROM blobs WHERE sha256 = $1", sha256)
        return found is not None
