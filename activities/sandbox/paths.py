"""Checking the paths of the files a VerifyRequest puts in a sandbox's work dir."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath

from naestro.contracts import SandboxFile
from naestro.errors import SandboxError


def validate_paths(files: Sequence[SandboxFile]) -> list[tuple[PurePosixPath, str]]:
    """The files' relative paths, or SandboxError naming the first that could escape."""
    checked = []
    for file in files:
        path = PurePosixPath(file.path)
        if "\0" in file.path or path.is_absolute() or ".." in path.parts or not path.parts:
            raise SandboxError(
                f"refusing sandbox file path {file.path!r}: it must be relative, without '..'"
            )
        checked.append((path, file.content))
    return checked
