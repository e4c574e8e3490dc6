"""/v1/blobs: upload a workspace (an archive or a git bundle) into the blob store.

The body is the raw archive, its media type in ``Content-Type``; the answer is its
:class:`~naestro.contracts.blobs.BlobRef` (content-addressed: the same bytes, the same
reference), which a task names in ``workspace.archive``. The body limit is
``api.max_workspace_bytes``, counted while the body streams in (api/body_limit.py).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, status

from api.deps import GatewayDep, Writer
from api.models import ERRORS, Message
from api.service import ApiError
from api.validation import JsonRoute
from naestro.contracts.blobs import BlobRef

PATH = "/v1/blobs"
router = APIRouter(route_class=JsonRoute, prefix=PATH, tags=["blobs"], responses=ERRORS)
# What a workspace may be: tar, gzip'd tar, zip, a git bundle, or bytes to sniff later.
WORKSPACE_TYPES = frozenset(
    {
        "application/x-tar",
        "application/gzip",
        "application/x-gzip",
        "application/x-compressed-tar",
        "application/zip",
        "application/x-git-bundle",
        "application/octet-stream",
    }
)


_BINARY = {t: {"schema": {"type": "string", "format": "binary"}} for t in sorted(WORKSPACE_TYPES)}


def _media_type(content_type: str | None) -> str:
    media = (content_type or "application/octet-stream").partition(";")[0].strip().lower()
    if media not in WORKSPACE_TYPES:
        known = ", ".join(sorted(WORKSPACE_TYPES))
        raise ApiError(415, f"Content-Type {media!r}: a workspace is one of {known}")
    return media


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=BlobRef,
    responses={
        413: {"model": Message, "description": "over api.max_workspace_bytes"},
        415: {"model": Message},
        422: {"model": Message},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                t: {"schema": {"type": "string", "format": "binary"}}
                for t in sorted(WORKSPACE_TYPES)
            },
        }
    },
)
async def upload(
    request: Request,
    who: Writer,
    gw: GatewayDep,
    content_type: Annotated[str | None, Header()] = None,
) -> BlobRef:
    """Store the body (a workspace archive) and answer its reference."""
    media = _media_type(content_type)
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
    if not body:
        raise ApiError(422, "the body is empty: send the archive's bytes")
    return await gw.blobs.put(bytes(body), media)
