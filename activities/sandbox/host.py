"""What the bubblewrap backend needs from the worker host: its tools, the system paths a
sandbox sees read-only, and the unprivileged identity sandboxes run as."""

from __future__ import annotations

import functools
import logging
import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from naestro.errors import SandboxError

log = logging.getLogger(__name__)

# Only what the dynamic loader and time zones need; /etc as a whole stays out of sight.
_ETC_FILES = ("/etc/ld.so.cache", "/etc/localtime", "/etc/alternatives")
_ROOT_DIRS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")


def find_ruff() -> str | None:
    """ruff from the worker's PATH, else beside the worker's python (the venv's bin)."""
    beside = Path(sys.executable).with_name("ruff")
    found = shutil.which("ruff") or (str(beside) if beside.is_file() else None)
    return str(Path(found).resolve()) if found else None


def require_tool(name: str, hint: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise SandboxError(f"{name} is not installed or not executable: {hint}")
    return found


@functools.cache
def supports(bwrap: str, flag: str) -> bool:
    help_text = subprocess.run(
        [bwrap, "--help"], capture_output=True, text=True, timeout=10, check=False
    )
    return flag in help_text.stdout + help_text.stderr


def system_binds(extra: Sequence[str]) -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in _ROOT_DIRS:
        path = Path("/", name)
        if path.is_symlink():  # merged /usr: /lib -> usr/lib
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    for etc in _ETC_FILES:
        args += ["--ro-bind-try", etc, etc]
    for path_text in extra:
        args += ["--ro-bind", path_text, path_text]
    return args


@dataclass(frozen=True)
class Identity:
    uid: int
    gid: int
    switch: bool  # only root can drop to another user; others run the sandbox as themselves

    @classmethod
    def resolve(cls, user: str) -> Identity:
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            raise SandboxError(f"sandbox user {user!r} does not exist") from None
        if entry.pw_uid == 0:
            raise SandboxError("the sandbox user must not be root")
        if os.geteuid() == 0:
            return cls(entry.pw_uid, entry.pw_gid, switch=True)
        if entry.pw_uid != os.geteuid():
            log.warning("not root: sandboxes run as uid %d instead of %s", os.geteuid(), user)
        return cls(os.geteuid(), os.getegid(), switch=False)

    def hand_over(self, work: Path) -> None:
        """Give the sandbox user everything under ``work`` (links themselves, not targets)."""
        if not self.switch:
            return
        for dirpath, dirnames, filenames in os.walk(work):
            os.chown(dirpath, self.uid, self.gid)
            for name in [*dirnames, *filenames]:
                os.chown(os.path.join(dirpath, name), self.uid, self.gid, follow_symlinks=False)
