"""Unpacking a workspace on the worker host: what goes in, and what is refused."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path, PurePosixPath

import pytest

from activities.sandbox.workspace import Caps, detect, tar_tree, unpack, write_files
from naestro.errors import WorkspaceError
from tests.sandbox.archives import (
    git_bundle,
    member,
    tar_gz,
    tar_of,
    tar_with,
    zip_of,
)

pytestmark = pytest.mark.timeout(30)

FILES = {"pkg/__init__.py": "", "pkg/calc.py": "X = 1\n", "README": "hi\n"}


def _root(tmp_path: Path) -> Path:
    root = tmp_path / "scratch" / "work"
    root.mkdir(parents=True)
    return root


def _tree(root: Path) -> dict[str, str]:
    found = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if rel.startswith(".git"):
            continue
        if path.is_symlink():
            found[rel] = "-> " + os.readlink(path)
        elif path.is_file():
            found[rel] = path.read_text()
    return found


@pytest.mark.parametrize(
    ("make", "kind"),
    [(tar_gz, "tar"), (zip_of, "zip"), (git_bundle, "git-bundle")],
)
def test_each_format_unpacks_by_its_first_bytes(tmp_path: Path, make: object, kind: str) -> None:
    data = make(FILES)  # type: ignore[operator]
    assert detect(data) == kind
    root = _root(tmp_path)
    assert unpack(data, "auto", root, Caps()) == kind
    assert _tree(root) == FILES


def test_plain_tar_and_inside_symlinks_are_kept(tmp_path: Path) -> None:
    data = tar_with(
        member("docs/latest", tarfile.SYMTYPE, "../README"),
        member("copy", tarfile.LNKTYPE, "README"),
        files={"README": "hi\n", "docs/v1.txt": "v1\n"},
    )
    root = _root(tmp_path)
    unpack(data, "tar", root, Caps())
    tree = _tree(root)
    assert tree["docs/latest"] == "-> ../README" and tree["copy"] == "hi\n"
    assert not (root / "copy").is_symlink() and (root / "docs/latest").read_text() == "hi\n"


ESCAPES = {
    "dot-dot path": tar_of([("../evil.py", b"x")]),
    "absolute path": tar_of([("/tmp/naestro-evil.py", b"x")]),
    "nested dot-dot": tar_of([("pkg/../../evil.py", b"x")]),
    "symlink out": tar_with(member("out", tarfile.SYMTYPE, "../../etc")),
    "absolute symlink": tar_with(member("passwd", tarfile.SYMTYPE, "/etc/passwd")),
    # Lexically a/b/z, really the work dir's parent: only the resolved path tells.
    "symlink chain": tar_with(
        member("a/b/p", tarfile.SYMTYPE, "../.."),
        member("a/b/l", tarfile.SYMTYPE, "p/../evil"),
        files={"a/b/keep": ""},
    ),
    "hard link out": tar_with(member("shadow", tarfile.LNKTYPE, "../../etc/shadow")),
    "device file": tar_with(member("null", tarfile.CHRTYPE)),
    "fifo": tar_with(member("pipe", tarfile.FIFOTYPE)),
    "zip dot-dot": zip_of({"../evil.py": "x"}),
}


@pytest.mark.parametrize("data", ESCAPES.values(), ids=ESCAPES.keys())
def test_members_that_could_escape_are_refused(tmp_path: Path, data: bytes) -> None:
    root = _root(tmp_path)
    with pytest.raises(WorkspaceError, match="workspace refused"):
        unpack(data, "auto", root, Caps())
    assert not (tmp_path / "scratch" / "evil.py").exists()
    assert not (tmp_path / "evil.py").exists() and not Path("/tmp/naestro-evil.py").exists()


def test_a_file_written_through_a_later_link_is_refused(tmp_path: Path) -> None:
    # "d/x" makes a real directory d; the link named d that follows cannot replace it.
    data = tar_with(member("d", tarfile.SYMTYPE, "elsewhere"), files={"d/x": "1"})
    with pytest.raises(WorkspaceError, match="replaces another member"):
        unpack(data, "tar", _root(tmp_path), Caps())


def test_git_bundle_with_an_escaping_symlink_is_refused(tmp_path: Path) -> None:
    def link(repo: Path) -> None:
        (repo / "evil").symlink_to("../../../etc/passwd")

    root = _root(tmp_path)
    with pytest.raises(WorkspaceError, match="symlink evil"):
        unpack(git_bundle(FILES, link), "git-bundle", root, Caps())
    assert not (root / "evil").exists()  # refused before checkout


def test_caps_stop_bombs_as_they_unpack(tmp_path: Path) -> None:
    zeros = tar_of([("zeros", bytes(4 * 1024 * 1024))], "w:gz")  # 4 MiB in a few KiB
    assert len(zeros) < 64 * 1024
    with pytest.raises(WorkspaceError, match="more than 1 MiB"):
        unpack(zeros, "tar", _root(tmp_path), Caps(max_bytes=1024 * 1024))
    many = tar_gz({f"f{i}.txt": "" for i in range(50)})
    with pytest.raises(WorkspaceError, match="more than 10 members"):
        unpack(many, "tar", _root(tmp_path / "b"), Caps(max_files=10))
    many_zip = zip_of({f"f{i}.txt": "" for i in range(50)})
    with pytest.raises(WorkspaceError, match="more than 10 members"):
        unpack(many_zip, "zip", _root(tmp_path / "c"), Caps(max_files=10))


def test_garbage_is_not_a_readable_archive(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="not a readable tar archive"):
        unpack(b"definitely not an archive" * 40, "auto", _root(tmp_path), Caps())
    with pytest.raises(WorkspaceError, match="git clone failed"):
        unpack(b"# v2 git bundle\ngarbage\n", "auto", _root(tmp_path / "b"), Caps())


def test_model_files_go_over_the_workspace_never_through_its_links(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("untouched")
    root = _root(tmp_path)
    unpack(tar_with(member("lib", tarfile.SYMTYPE, "pkg"), files=FILES), "tar", root, Caps())
    (root / "README").unlink()
    (root / "README").symlink_to(outside)  # as if a link had got in: replaced, not followed
    write_files(root, [(PurePosixPath("README"), "new"), (PurePosixPath("pkg/calc.py"), "X = 2")])
    assert outside.read_text() == "untouched"
    assert (root / "README").read_text() == "new" and not (root / "README").is_symlink()
    assert (root / "pkg/calc.py").read_text() == "X = 2"
    with pytest.raises(WorkspaceError, match="a model file cannot go into the workspace"):
        write_files(root, [(PurePosixPath("lib/extra.py"), "")])  # lib is a link


def test_tar_tree_round_trips_through_the_runner_rules(tmp_path: Path) -> None:
    root = _root(tmp_path)
    unpack(tar_with(member("link", tarfile.SYMTYPE, "README"), files=FILES), "tar", root, Caps())
    again = _root(tmp_path / "again")
    unpack(tar_tree(root), "tar", again, Caps())
    assert _tree(again) == _tree(root)
