"""A reference to bytes kept in the blob store (naestro/blobs.py), not in Temporal history."""

from __future__ import annotations

from pydantic import Field

from naestro.contracts.base import Frozen


class BlobRef(Frozen):
    """Content address of a stored blob: its sha256, size and media type."""

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    media_type: str = Field(default="application/octet-stream", max_length=200)
