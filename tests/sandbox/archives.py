"""Workspaces and wheels the workspace tests build themselves (no network): tar, zip and
git-bundle archives of a few files, malicious tars, and a minimal pure-Python wheel."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import subprocess
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

Files = Mapping[str, str]


def tar_gz(files: Files) -> bytes:
    return tar_of([(name, content.encode()) for name, content in files.items()], "w:gz")


def tar_of(members: list[tuple[str, bytes]], mode: str = "w:") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:  # type: ignore[call-overload]
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def tar_with(*infos: tarfile.TarInfo, files: Files | None = None) -> bytes:
    """A tar of ``files`` and then special members (links, devices) as given."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:") as archive:
        for name, content in (files or {}).items():
            data = content.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for info in infos:
            archive.addfile(info)
    return buffer.getvalue()


def member(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info


def zip_of(files: Files) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def git_bundle(files: Files, edit: Callable[[Path], None] | None = None) -> bytes:
    """A bundle of a one-commit repository holding ``files`` (``edit`` may add more)."""
    with tempfile.TemporaryDirectory() as scratch:
        repo = Path(scratch, "repo")
        repo.mkdir()
        for name, content in files.items():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            (repo / name).write_text(content)
        if edit is not None:
            edit(repo)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": scratch,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.invalid",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.invalid",
        }
        for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "init"]):
            subprocess.run(["git", *args], cwd=repo, env=env, check=True)
        bundle = Path(scratch, "repo.bundle")
        subprocess.run(
            ["git", "bundle", "create", "-q", str(bundle), "--all"], cwd=repo, env=env, check=True
        )
        return bundle.read_bytes()


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def write_wheel(directory: Path, name: str, version: str, modules: Files) -> Path:
    """A minimal pure-Python wheel (PEP 427), written by hand: no build tools, no network."""
    dist = f"{name}-{version}.dist-info"
    contents = {path: text.encode() for path, text in modules.items()}
    contents[f"{dist}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    )
    contents[f"{dist}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: naestro-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = [f"{path},{_record_hash(data)},{len(data)}" for path, data in contents.items()]
    contents[f"{dist}/RECORD"] = ("\n".join([*record, f"{dist}/RECORD,,"]) + "\n").encode()
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in contents.items():
            archive.writestr(path, data)
    wheel.chmod(0o644)
    return wheel
