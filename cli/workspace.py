"""`naestro run --workspace PATH`: a code base packed and put into the blob store.

A directory becomes a gzip'd tar in memory (sorted, timestamps and owners zeroed, so the
same tree is the same blob; VCS and cache folders left out); a file is taken as it is (a
tar, tar.gz, zip or git bundle, told apart by name, then by its first bytes). The bytes go
to the blob store in the Postgres the workers use (DATABASE_URL, else `naestro dev`'s
embedded one), like an upload to the API's POST /v1/blobs, under the same size limit.
"""

from __future__ import annotations

import gzip
import io
import os
import shlex
import tarfile
from pathlib import Path

import asyncpg
from pydantic import ValidationError

from naestro.blobs import BlobStore, ref_of
from naestro.config.settings import Settings
from naestro.contracts.blobs import BlobRef
from naestro.contracts.verify import WorkspaceFormat, WorkspaceSpec
from naestro.errors import NaestroError

SKIPPED = frozenset(
    {".git", ".hg", ".svn", "__pycache__", ".venv", "node_modules", ".mypy_cache",
     ".pytest_cache", ".ruff_cache"}
)  # fmt: skip
_BY_SUFFIX: dict[str, tuple[str, WorkspaceFormat]] = {
    ".tar": ("application/x-tar", "tar"),
    ".tar.gz": ("application/gzip", "tar"),
    ".tgz": ("application/gzip", "tar"),
    ".zip": ("application/zip", "zip"),
    ".bundle": ("application/x-git-bundle", "git-bundle"),
}


def _normalised(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def pack_directory(root: Path) -> bytes:
    """The tree under ``root`` as a reproducible tar.gz, paths relative to ``root``."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for folder, subfolders, files in os.walk(root):
            subfolders[:] = sorted(d for d in subfolders if d not in SKIPPED)
            for name in sorted(files):
                path = Path(folder, name)
                arcname = path.relative_to(root).as_posix()
                tar.add(path, arcname=arcname, recursive=False, filter=_normalised)
    return gzip.compress(raw.getvalue(), mtime=0)


def _sniff(data: bytes) -> tuple[str, WorkspaceFormat]:
    if data[:2] == b"\x1f\x8b":
        return "application/gzip", "tar"
    if data[:4] == b"PK\x03\x04":
        return "application/zip", "zip"
    if data.startswith((b"# v2 git bundle", b"# v3 git bundle")):
        return "application/x-git-bundle", "git-bundle"
    if data[257:262] == b"ustar":
        return "application/x-tar", "tar"
    return "application/octet-stream", "auto"


def pack(path: Path) -> tuple[bytes, str, WorkspaceFormat]:
    """(bytes, media type, format) of a directory or an archive file."""
    if path.is_dir():
        return pack_directory(path), "application/gzip", "tar"
    if not path.is_file():
        raise NaestroError(f"--workspace {path}: no such directory or file")
    data = path.read_bytes()
    name = path.name.lower()
    for suffix, (media, fmt) in _BY_SUFFIX.items():
        if name.endswith(suffix):
            return data, media, fmt
    return (data, *_sniff(data))


async def upload(settings: Settings, data: bytes, media_type: str) -> BlobRef:
    """Put the archive into the blob store of the database the workers read."""
    from cli.memory import resolve_url  # the configured database, else the embedded one

    conn = await asyncpg.connect(await resolve_url(settings))
    try:
        return await BlobStore(conn).put(data, media_type)
    finally:
        await conn.close()


async def workspace_spec(
    settings: Settings, path: Path, test_command: str | None, deps: tuple[str, ...]
) -> WorkspaceSpec:
    """Pack, check the size limit, upload: the task's workspace, by reference."""
    data, media, fmt = pack(path)
    limit = settings.api.max_workspace_bytes
    if len(data) > limit:
        raise NaestroError(
            f"--workspace {path}: {len(data)} bytes packed, over the limit of {limit} "
            "(api.max_workspace_bytes)"
        )
    try:
        command = shlex.split(test_command) if test_command else None
        spec = {"format": fmt, "test_command": command, "dependencies": list(deps)}
        WorkspaceSpec.model_validate({**spec, "archive": ref_of(b"", media)})  # before upload
    except ValueError as exc:  # unbalanced quotes; too many commands or dependencies
        raise NaestroError(f"invalid workspace: {_first_line(exc)}") from None
    return WorkspaceSpec.model_validate({**spec, "archive": await upload(settings, data, media)})


def _first_line(exc: ValueError) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(exc)
