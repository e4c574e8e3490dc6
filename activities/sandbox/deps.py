"""A workspace's Python dependencies, from the worker's local wheel cache, with no network.

The cache (``sandbox.wheel_cache``) is a directory of wheels (and sdists) an operator
fills. A workspace lists plain requirements (``name[extra]>=1.2``: no URLs, no options, no
markers); a name the cache holds no file for is reported before anything runs, and pip's
own "No matching distribution" (a version or a transitive dependency it lacks) after.
The install itself is pip inside a sandbox, network off, the cache read-only
(``install_command``), into a directory that later runs bind read-only on PYTHONPATH.
Installs are kept per (requirements, cache content, sandbox python), least recently used
out first (``Installs``), so a refine loop installs once.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from naestro.contracts import SandboxLimits, VerificationReport
from naestro.contracts.verify import WorkspaceSpec
from naestro.errors import SandboxError, WorkspaceError

WHEELS = "/.naestro/wheels"  # the wheel cache, read-only, inside the install sandbox
SITE = "/.naestro/deps"  # the installed dependencies, read-only, inside test sandboxes
TARGET = "site"  # the install's target dir, in its work dir
DEFAULT_INSTALLS = 16
NOT_IN_CACHE = "dependencies not in the worker's wheel cache"
# pip's own run: wheels unpack in /tmp (a tmpfs of file_size_mb) before they move.
INSTALL_LIMITS = SandboxLimits(
    cpu_seconds=300, memory_mb=1024, processes=64, wall_seconds=300, file_size_mb=1024
)
_SPEC = r"(?:~=|===|==|!=|<=|>=|<|>)\s*[A-Za-z0-9.*+!_-]+"
_REQUIREMENT = re.compile(
    rf"^(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*"
    rf"(?:\[\s*[A-Za-z0-9._-]+(?:\s*,\s*[A-Za-z0-9._-]+)*\s*\])?\s*"
    rf"(?:{_SPEC}(?:\s*,\s*{_SPEC})*)?\s*$"
)
_NOT_FOUND = re.compile(r"No matching distribution found for (\S+)")
_SDIST = re.compile(r"^(?P<name>.+?)-[0-9][^-]*\.(?:tar\.gz|tar\.bz2|tar\.xz|zip)$")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(requirements: Sequence[str]) -> list[str]:
    """Each requirement's canonical name; WorkspaceError for one that is not plain."""
    names = []
    for requirement in requirements:
        found = _REQUIREMENT.match(requirement)
        if found is None:
            raise WorkspaceError(
                f"workspace dependency {requirement!r} is not a plain requirement "
                "(name[extras] and version specifiers only: no URLs, options or markers)"
            )
        names.append(canonical(found["name"]))
    return names


def _file_name(path: str) -> str | None:
    """The distribution a wheel or sdist file name holds, canonical."""
    if path.endswith(".whl"):
        return canonical(path.split("-", 1)[0])
    sdist = _SDIST.match(path)
    return canonical(sdist["name"]) if sdist else None


def cache_listing(cache: Path) -> list[tuple[str, int, int]]:
    """(name, size, mtime) of the cache's files: what decides an install's outcome."""
    try:
        entries = list(os.scandir(cache))
    except OSError:
        return []
    found = []
    for entry in entries:
        if entry.is_file(follow_symlinks=True):
            info = entry.stat()
            found.append((entry.name, info.st_size, info.st_mtime_ns))
    return sorted(found)


def fingerprint(cache: Path) -> str:
    encoded = json.dumps(cache_listing(cache)).encode()
    return hashlib.sha256(encoded).hexdigest()[:16]


def absent(requirements: Sequence[str], cache: Path) -> list[str]:
    """The requirements whose distribution the cache holds no file of at all."""
    held = {_file_name(name) for name, _, _ in cache_listing(cache)}
    names = requirement_names(requirements)
    return [req for req, name in zip(requirements, names, strict=True) if name not in held]


def not_found(pip_output: str) -> list[str]:
    """What pip said it found no distribution for (it stops at the first)."""
    return list(dict.fromkeys(_NOT_FOUND.findall(pip_output)))


def install_command(python: str, requirements: Sequence[str], workdir: str) -> list[str]:
    # --isolated: no pip config or PIP_* variables; --no-index: the cache is all there is.
    return [
        python, "-m", "pip", "install", "--isolated", "--no-index", "--find-links", WHEELS,
        "--target", f"{workdir}/{TARGET}", "--no-cache-dir", "--disable-pip-version-check",
        "--no-warn-script-location", "--no-input", "--progress-bar", "off", "--",
        *requirements,
    ]  # fmt: skip


def failure(
    backend: str, exit_code: object, timed_out: bool, output: str, python: str
) -> VerificationReport | None:
    """The report of a pip run that did not install everything (None: it did)."""
    if exit_code == 0 and not timed_out:
        return None
    if "No module named pip" in output:
        raise SandboxError(f"{python} has no pip (Debian: apt-get install python3-pip)")
    missing = not_found(output)
    if missing:
        why = NOT_IN_CACHE
    elif timed_out:
        why = f"installing the dependencies timed out after {INSTALL_LIMITS.wall_seconds:g}s"
    else:
        why = f"installing the dependencies failed (pip exit code {exit_code})"
    return missing_report(backend, missing, why, output)


def missing_report(
    backend: str, missing: Sequence[str], why: str, output: str = ""
) -> VerificationReport:
    names = ", ".join(missing)
    return VerificationReport(
        backend=backend,
        passed=False,
        exit_code=None,
        output=output,
        summary=f"{why}: {names}" if names else why,
        missing_dependencies=list(missing),
    )


Install = Callable[[list[str], Path], Awaitable[VerificationReport | None]]


@asynccontextmanager
async def site(
    spec: WorkspaceSpec | None,
    backend: str,
    cache: Path | None,
    installs: Installs,
    tools: str,
    install: Install,
) -> AsyncIterator[Path | VerificationReport | None]:
    """The workspace's installed dependencies, held for a run (None: it has none); or the
    report of why they cannot be. ``install(requirements, target)`` runs pip."""
    if spec is None or not spec.dependencies:
        yield None
        return
    wanted = spec.dependencies
    if spec.language != "python":
        raise WorkspaceError(
            "workspace dependencies are Python requirements: a javascript workspace "
            "brings its node_modules in the archive"
        )
    requirement_names(wanted)  # WorkspaceError for one that is not plain
    if cache is None:
        why = "this worker has no wheel cache (sandbox.wheel_cache) for the dependencies"
        yield missing_report(backend, wanted, why)
        return
    if gone := absent(wanted, cache):
        yield missing_report(backend, gone, NOT_IN_CACHE)
        return
    key = Installs.key(wanted, fingerprint(cache), tools)
    async with installs.use(key, functools.partial(install, wanted)) as found:
        yield found


class Installs:
    """Installed dependency sets under a private directory, one per key, LRU-capped.

    ``use(key, install)`` yields the set's directory, running ``install(target)`` once
    when it is not there (concurrent runs with the same key wait for that one); an install
    that failed yields its report and keeps nothing. A set in use is never evicted.
    """

    def __init__(self, entries: int = DEFAULT_INSTALLS) -> None:
        self._entries = max(entries, 1)
        self._root: Path | None = None
        self._done: OrderedDict[str, Path] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        self._using: Counter[str] = Counter()

    @property
    def root(self) -> Path:
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix="naestro-deps-"))
            self._root.chmod(0o711)  # the sandbox user binds entries; it may only traverse
        return self._root

    @staticmethod
    def key(requirements: Sequence[str], cache: str, python: str) -> str:
        material = json.dumps([sorted(requirements), cache, python]).encode()
        return hashlib.sha256(material).hexdigest()[:32]

    @asynccontextmanager
    async def use(
        self, key: str, install: Callable[[Path], Awaitable[VerificationReport | None]]
    ) -> AsyncIterator[Path | VerificationReport]:
        async with self._locks.setdefault(key, asyncio.Lock()):
            if key not in self._done:
                failed = await install(self.root / key)
                if failed is not None:
                    yield failed
                    return
                self._done[key] = self.root / key
            self._done.move_to_end(key)
            self._using[key] += 1
        try:
            yield self._done[key]
        finally:
            self._using[key] -= 1
            await self._evict()

    async def _evict(self) -> None:
        idle = [key for key in self._done if not self._using[key]]
        for key in idle[: max(len(self._done) - self._entries, 0)]:
            old = self._done.pop(key)
            await asyncio.to_thread(shutil.rmtree, old, ignore_errors=True)

    def close(self) -> None:
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None
            self._done.clear()
