"""A task's workspace, unpacked safely into a run's work dir on the worker host.

The archive (tar, plain or compressed; zip; or a git bundle) was made by a user and is
unpacked by a worker that may run as root, before any sandbox exists: nothing in it may
reach outside the work dir. So members are written by ``Tree``, never by ``extractall``:
paths must be relative and free of ``..``; parents must be real directories (``lstat``);
files are created with ``O_NOFOLLOW | O_EXCL``; device files, FIFOs and sockets are
refused; symlinks are made last, must be relative and, once all exist, must resolve
inside the work dir (``realpath``, so chains count); sizes and counts are capped as the
bytes are written, which stops decompression bombs. A git bundle is cloned by the host's
``git`` (no hooks, no system or global config, objects fsck'ed), its tree sized and its
symlinks checked before checkout. Anything refused is a ``WorkspaceError`` that says why.
"""

from __future__ import annotations

import io
import lzma
import os
import stat
import subprocess
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Literal

from naestro.contracts.verify import WorkspaceFormat
from naestro.errors import WorkspaceError

Format = Literal["tar", "zip", "git-bundle"]
_BUNDLE_MAGIC = (b"# v2 git bundle\n", b"# v3 git bundle\n")
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_CHUNK = 256 * 1024
_GIT_TIMEOUT_S = 120
_MAX_LINK = 4096
# What a corrupt, truncated or encrypted archive raises while it is read.
_UNREADABLE = (
    tarfile.TarError,
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    RuntimeError,  # zipfile: an encrypted member
    NotImplementedError,  # zipfile: an unknown compression
    ValueError,
)


@dataclass(frozen=True)
class Caps:
    max_bytes: int = 256 * 1024 * 1024
    max_files: int = 20_000


def detect(data: bytes, declared: WorkspaceFormat = "auto") -> Format:
    """The archive's format: the declared one, else by its first bytes (tar otherwise:
    tarfile reads plain, gzip, bzip2 and xz tars and says so when it cannot)."""
    if declared != "auto":
        return declared
    if data.startswith(_BUNDLE_MAGIC):
        return "git-bundle"
    if data.startswith(_ZIP_MAGIC):
        return "zip"
    return "tar"


def member_path(name: str) -> PurePosixPath:
    """A member's path relative to the work dir, or WorkspaceError when it could escape."""
    path = PurePosixPath(name)
    if "\0" in name or path.is_absolute() or ".." in path.parts:
        raise WorkspaceError(f"workspace refused: member {name!r} is not a relative path inside it")
    return path


def _mode(mode: int) -> int:
    return 0o755 if mode & 0o111 else 0o644  # no setuid, no group/other writes


@dataclass
class Tree:
    """Writes a workspace's members under ``root`` without ever following a link."""

    root: Path
    caps: Caps = field(default_factory=Caps)
    files: int = 0
    written: int = 0
    _links: list[tuple[PurePosixPath, str]] = field(default_factory=list)

    def _count(self) -> None:
        self.files += 1
        if self.files > self.caps.max_files:
            raise WorkspaceError(
                f"workspace refused: more than {self.caps.max_files} members "
                "(sandbox.workspace_max_files)"
            )

    def _add_bytes(self, n: int) -> None:
        self.written += n
        if self.written > self.caps.max_bytes:
            raise WorkspaceError(
                f"workspace refused: more than {self.caps.max_bytes // (1024 * 1024)} MiB "
                "unpacked (sandbox.workspace_max_mb)"
            )

    def mkdir(self, rel: PurePosixPath) -> Path:
        """``rel`` as a real directory (made when missing); a link or file on the way: refused."""
        current = self.root
        for part in rel.parts:
            current = current / part
            try:
                info = os.lstat(current)
            except FileNotFoundError:
                os.mkdir(current, 0o755)
                continue
            if not stat.S_ISDIR(info.st_mode):
                raise WorkspaceError(f"workspace refused: {rel} goes through a non-directory")
        return current

    def write(self, rel: PurePosixPath, source: IO[bytes], mode: int = 0o644) -> None:
        if not rel.parts:
            raise WorkspaceError("workspace refused: a file member without a name")
        self._count()
        target = self.mkdir(rel.parent) / rel.name
        try:
            info = os.lstat(target)
        except FileNotFoundError:
            pass
        else:  # a later member of the same name wins, as with tar; a directory cannot go
            if stat.S_ISDIR(info.st_mode):
                raise WorkspaceError(f"workspace refused: {rel} is both a file and a directory")
            os.unlink(target)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        with os.fdopen(os.open(target, flags, _mode(mode)), "wb") as out:
            while chunk := source.read(_CHUNK):
                self._add_bytes(len(chunk))
                out.write(chunk)

    def write_bytes(self, rel: PurePosixPath, data: bytes, mode: int = 0o644) -> None:
        self.write(rel, io.BytesIO(data), mode)

    def symlink(self, rel: PurePosixPath, target: str) -> None:
        """Kept for ``finish``: links are made after every file, so none is written through."""
        self._count()
        inside = PurePosixPath(os.path.normpath(rel.parent / target))
        if not target or "\0" in target or target.startswith("/") or inside.parts[:1] == ("..",):
            raise WorkspaceError(
                f"workspace refused: symlink {rel} -> {target!r} points outside the workspace"
            )
        self._links.append((rel, target))

    def finish(self) -> None:
        for rel, target in self._links:
            path = self.mkdir(rel.parent) / rel.name
            if os.path.lexists(path):
                raise WorkspaceError(f"workspace refused: symlink {rel} replaces another member")
            os.symlink(target, path)
        check_links(self.root, (rel for rel, _ in self._links))


def check_links(root: Path, links: Iterator[PurePosixPath]) -> None:
    """Every link resolves (through any chain) inside ``root``."""
    top = os.path.realpath(root)
    for rel in links:
        resolved = os.path.realpath(root / rel)
        if os.path.commonpath([top, resolved]) != top:
            raise WorkspaceError(f"workspace refused: symlink {rel} resolves outside the workspace")


def _unpack_tar(data: bytes, tree: Tree) -> None:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
        for member in archive:  # streamed: a member-count bomb stops at the cap
            rel = member_path(member.name)
            if member.isdir():
                tree._count()
                tree.mkdir(rel)
            elif member.isfile():
                if member.size > tree.caps.max_bytes:
                    tree._add_bytes(member.size)
                source = archive.extractfile(member)
                assert source is not None
                tree.write(rel, source, member.mode)
            elif member.issym():
                tree.symlink(rel, member.linkname)
            elif member.islnk():  # a hard link: a copy of an earlier regular member
                earlier = member_path(member.linkname)
                flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
                try:
                    fd = os.open(tree.mkdir(earlier.parent) / earlier.name, flags)
                except OSError:
                    raise WorkspaceError(
                        f"workspace refused: hard link {rel} -> {member.linkname!r} "
                        "names no earlier file"
                    ) from None
                with os.fdopen(fd, "rb") as source_file:
                    tree.write(rel, source_file, member.mode)
            else:
                raise WorkspaceError(
                    f"workspace refused: {rel} is a device file, FIFO or other special file"
                )


def _unpack_zip(data: bytes, tree: Tree) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = archive.infolist()
        if len(members) > tree.caps.max_files:
            tree.files = len(members) - 1
            tree._count()
        for info in members:
            rel = member_path(info.filename)
            kind = stat.S_IFMT(info.external_attr >> 16)
            if info.is_dir():
                tree._count()
                tree.mkdir(rel)
            elif kind == stat.S_IFLNK:
                with archive.open(info) as source:
                    target = source.read(_MAX_LINK + 1)
                tree.symlink(rel, target.decode("utf-8", errors="replace"))
            elif kind in (0, stat.S_IFREG):
                with archive.open(info) as source:  # counted as decompressed, not declared
                    tree.write(rel, source, info.external_attr >> 16)
            else:
                raise WorkspaceError(
                    f"workspace refused: {rel} is a device file, FIFO or other special file"
                )


def _git(args: list[str], cwd: Path, home: Path) -> str:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
    }
    safe = ["-c", "core.hooksPath=/dev/null", "-c", "protocol.allow=never"]
    safe += ["-c", "protocol.file.allow=always", "-c", "transfer.fsckObjects=true"]
    # The work dir already belongs to the sandbox user: this worker's own clone is safe.
    safe += ["-c", f"safe.directory={cwd if args[0] != 'clone' else args[-1]}"]
    try:
        done = subprocess.run(
            ["git", *safe, *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            timeout=_GIT_TIMEOUT_S,
            check=False,
        )
    except FileNotFoundError:
        raise WorkspaceError("a git-bundle workspace needs git on the worker host") from None
    except subprocess.TimeoutExpired:
        took = f"git {args[0]} of the workspace took over {_GIT_TIMEOUT_S}s"
        raise WorkspaceError(took) from None
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", errors="replace").strip()[-500:]
        raise WorkspaceError(f"workspace refused: git {args[0]} failed: {said}")
    return done.stdout.decode("utf-8", errors="replace")


def _unpack_bundle(data: bytes, tree: Tree, scratch: Path) -> None:
    bundle = scratch / "workspace.bundle"
    bundle.write_bytes(data)
    try:
        _git(["clone", "--quiet", "--no-checkout", str(bundle), str(tree.root)], scratch, scratch)
    finally:
        bundle.unlink()
    listing = _git(["ls-tree", "-r", "-l", "-z", "--full-tree", "HEAD"], tree.root, scratch)
    links = []
    for entry in filter(None, listing.split("\0")):
        meta, name = entry.split("\t", 1)
        mode, _kind, sha, size = meta.split()
        rel = member_path(name)
        if mode == "120000":
            target = _git(["cat-file", "blob", sha], tree.root, scratch)
            tree.symlink(rel, target)  # checks the target; git makes the link itself
            links.append(rel)
            continue
        tree._count()
        if size != "-":  # "-": a submodule's commit, checked out as an empty directory
            tree._add_bytes(int(size))
    _git(["checkout", "--quiet", "--force", "HEAD"], tree.root, scratch)
    check_links(tree.root, iter(links))


def unpack(data: bytes, declared: WorkspaceFormat, root: Path, caps: Caps) -> Format:
    """Unpack ``data`` into the empty directory ``root`` (its parent is scratch space for a
    bundle); WorkspaceError says what was refused. Returns the format it had."""
    kind = detect(data, declared)
    tree = Tree(root, caps)
    try:
        if kind == "git-bundle":
            _unpack_bundle(data, tree, root.parent)
            return kind
        if kind == "zip":
            _unpack_zip(data, tree)
        else:
            _unpack_tar(data, tree)
        tree.finish()
    except _UNREADABLE as exc:
        raise WorkspaceError(f"the workspace is not a readable {kind} archive: {exc}") from exc
    except OSError as exc:
        raise WorkspaceError(f"could not unpack the {kind} workspace: {exc}") from exc
    return kind


def write_files(root: Path, files: list[tuple[PurePosixPath, str]]) -> None:
    """The model's files, over the workspace: never through a link the workspace holds."""
    tree = Tree(root, Caps(max_bytes=1 << 62, max_files=1 << 30))
    try:
        for rel, content in files:
            tree.write_bytes(rel, content.encode("utf-8"))
    except WorkspaceError as exc:
        raise WorkspaceError(f"a model file cannot go into the workspace: {exc}") from exc


def tar_tree(root: Path) -> bytes:
    """An uncompressed tar of an unpacked workspace (files, directories, its checked
    symlinks as links), for a runner that unpacks it inside the sandbox (Docker)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:", format=tarfile.PAX_FORMAT) as archive:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted([*dirnames, *filenames]):
                path = Path(dirpath, name)
                archive.add(path, arcname=str(path.relative_to(root)), recursive=False)
    return buffer.getvalue()
