"""The Docker side of DockerSandbox: hardened container options, the blocking SDK calls.

Each container (from the image infra/sandbox/build.sh makes) runs with no network, every
capability dropped, no-new-privileges, Docker's default seccomp profile, a read-only root,
size-capped tmpfs on /work and /tmp, pids / memory / CPU limits and rlimits, as uid 65534.
Its PID 1 is ``cat`` reading a stdin that only the worker holds open: when the worker dies,
the kernel closes that socket, PID 1 exits and Docker removes the container
(``auto_remove``), so a dead worker leaves nothing running. A run is one ``exec`` of the
in-sandbox runner (runner.py), which unpacks the files sent on its stdin, runs the command,
caps its output and reports the exit status and resource use on stderr. The container is
killed after every run; a warm pool keeps started ones ready.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import socket
import tarfile
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import docker
from docker.errors import APIError, DockerException, NotFound
from docker.models.containers import Container
from docker.types import Ulimit
from requests.exceptions import RequestException

from activities.sandbox.pool import WarmPool
from activities.sandbox.report import parse_trailer
from naestro.contracts import SandboxLimits
from naestro.errors import SandboxError

log = logging.getLogger(__name__)

DEFAULT_IMAGE = "naestro-sandbox:current"
BUILD_HINT = "build it with infra/sandbox/build.sh"
RUNNER = "/usr/local/lib/naestro/runner.py"
LABEL = "naestro.sandbox"
USER = "65534:65534"
MIB = 1024 * 1024
_KEEPER = ["/bin/sh", "-c", "exec cat >/dev/null"]
_TRAILER_MAX = 6 * MIB  # the runner's JSON trailer, JUnit report included


@dataclass
class Warm:
    """A started container and the attach socket that keeps its PID 1 alive."""

    container: Container
    keeper: Any  # the attach socket holding the container's stdin open
    killed: bool = False

    @property
    def id(self) -> str:
        return str(self.container.id)


@dataclass
class ExecResult:
    exit_code: int | None
    output: bytes
    output_total: int
    timed_out: bool
    duration_s: float
    usage: dict[str, Any] = field(default_factory=dict)


def tar_files(files: Sequence[tuple[PurePosixPath, str]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:", format=tarfile.PAX_FORMAT) as archive:
        for path, content in files:
            data = content.encode("utf-8")
            info = tarfile.TarInfo(str(path))
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def container_options(image: str, limits: SandboxLimits, owner: str) -> dict[str, Any]:
    """containers.create() arguments: the hardening matrix in one place."""
    # uid/gid: the mount root otherwise copies the image dir's owner (root).
    tmpfs = f"size={limits.file_size_mb}m,uid=65534,gid=65534,mode=0700,nosuid,nodev"
    memory = f"{limits.memory_mb}m"
    return {
        "image": image,
        "command": _KEEPER,
        "user": USER,
        "labels": {LABEL: owner},
        "network_mode": "none",
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],  # seccomp: Docker's default profile applies
        "read_only": True,
        "tmpfs": {"/work": f"rw,exec,{tmpfs}", "/tmp": f"rw,noexec,{tmpfs}"},
        "working_dir": "/work",
        "pids_limit": limits.processes + 2,  # PID 1 and the runner count too
        "mem_limit": memory,
        "memswap_limit": memory,  # no swap beyond the memory limit
        "nano_cpus": 1_000_000_000,
        "ulimits": [
            Ulimit(name="cpu", soft=limits.cpu_seconds, hard=limits.cpu_seconds + 1),
            Ulimit(name="data", soft=limits.memory_mb * MIB, hard=limits.memory_mb * MIB),
            Ulimit(name="fsize", soft=limits.file_size_mb * MIB, hard=limits.file_size_mb * MIB),
            Ulimit(name="core", soft=0, hard=0),
            Ulimit(name="nofile", soft=1024, hard=1024),
        ],
        "hostname": "sandbox",
        "stdin_open": True,  # with create() this also sets StdinOnce: see Warm.keeper
        "auto_remove": True,
    }


def _raw(sock: Any) -> socket.socket:
    raw = getattr(sock, "_sock", sock)
    assert isinstance(raw, socket.socket)
    return raw


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = sock.recv(min(left, 256 * 1024))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


@dataclass
class _Streams:
    """Docker's multiplexed exec stream: stdout kept up to a limit, stderr (the trailer)."""

    limit: int
    stdout: bytearray = field(default_factory=bytearray)
    stdout_total: int = 0
    stderr: bytearray = field(default_factory=bytearray)

    def read(self, sock: socket.socket) -> None:
        while len(header := _recv_exactly(sock, 8)) == 8:
            stream, size = header[0], int.from_bytes(header[4:8], "big")
            left = size
            while left:  # frames are read in bounded pieces, kept only up to the caps
                piece = _recv_exactly(sock, min(left, 256 * 1024))
                if not piece:
                    return
                left -= len(piece)
                self._keep(stream, piece)

    def _keep(self, stream: int, piece: bytes) -> None:
        if stream == 2:
            self.stderr += piece[: _TRAILER_MAX - len(self.stderr)]
            return
        self.stdout_total += len(piece)
        self.stdout += piece[: max(0, self.limit - len(self.stdout))]


class DockerEngine:
    """The blocking docker SDK calls, run on a private thread pool."""

    def __init__(self, image: str, base_url: str | None = None) -> None:
        try:
            self.client = docker.DockerClient(base_url=base_url) if base_url else docker.from_env()
            self.client.ping()
        except DockerException as exc:
            raise SandboxError(f"the Docker engine does not answer: {exc}") from exc
        try:
            self.image_id = str(self.client.images.get(image).id)
        except NotFound:
            raise SandboxError(f"sandbox image {image!r} not found: {BUILD_HINT}") from None
        self.image = image
        self.owner = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.executor = ThreadPoolExecutor(max_workers=64, thread_name_prefix="naestro-docker")

    async def call(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def start(self, limits: SandboxLimits) -> Warm:
        container = self.client.containers.create(
            **container_options(self.image, limits, self.owner)
        )
        keeper = self.client.api.attach_socket(str(container.id), params={"stdin": 1, "stream": 1})
        container.start()
        return Warm(container, keeper)

    def kill(self, warm: Warm) -> None:
        if warm.killed:
            return
        warm.killed = True
        with suppress(DockerException):
            warm.container.kill()
        with suppress(DockerException):
            # Stopped means every process in it is gone; auto_remove deletes it after.
            warm.container.wait(condition="not-running", timeout=10)
        with suppress(OSError):
            _raw(warm.keeper).close()

    def exec_run(
        self, warm: Warm, argv: list[str], stdin: bytes, limit: int, workdir: str
    ) -> tuple[_Streams, str]:
        api = self.client.api
        exec_id = api.exec_create(warm.id, argv, stdin=True, user=USER, workdir=workdir)["Id"]
        sock = _raw(api.exec_start(exec_id, socket=True))
        try:
            sock.sendall(stdin)
            sock.shutdown(socket.SHUT_WR)
            streams = _Streams(limit)
            streams.read(sock)
        finally:
            sock.close()
        return streams, str(exec_id)

    def died(self, warm: Warm) -> bool:
        """Whether the container is gone though no one here killed it, and not for its
        memory limit: killed from outside, or its engine stopped under the run. Asked when
        the runner left no trailer; a container still running a moment later did not die
        (its runner did: the memory limit's OOM kill)."""
        if warm.killed:
            return False
        try:
            warm.container.wait(condition="not-running", timeout=2)
            warm.container.reload()
        except NotFound:
            return True  # stopped, and auto_remove deleted it
        except (RequestException, DockerException):
            return False  # still running after the wait
        state = warm.container.attrs.get("State") or {}
        return not state.get("Running", False) and not state.get("OOMKilled", False)

    def exit_code(self, exec_id: str) -> int | None:
        code = self.client.api.exec_inspect(exec_id).get("ExitCode")
        return code if isinstance(code, int) else None

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.client.close()


async def run_in(
    engine: DockerEngine,
    warm: Warm,
    argv: list[str],
    payload: bytes,
    limits: SandboxLimits,
    workdir: str = "/work",
) -> ExecResult:
    """One runner exec in ``warm``, killed (with the container) at the wall limit."""
    started = time.monotonic()
    job = asyncio.ensure_future(
        engine.call(engine.exec_run, warm, argv, payload, limits.output_bytes, workdir)
    )
    try:
        async with asyncio.timeout(limits.wall_seconds):
            streams, exec_id = await asyncio.shield(job)
    except TimeoutError:
        await engine.call(engine.kill, warm)
        with suppress(Exception):
            await job  # the stream ends once the container is gone
        return ExecResult(None, b"", 0, True, time.monotonic() - started)
    except BaseException as exc:
        await engine.call(engine.kill, warm)
        with suppress(Exception):
            await job
        if _container_gone(exc):  # killed while pooled or before the exec: not the code's
            raise SandboxError(f"the sandbox container was gone: {exc}") from exc
        raise
    duration = time.monotonic() - started
    trailer = parse_trailer(bytes(streams.stderr))
    if not trailer and await engine.call(engine.died, warm):
        # The runner never finished because its container died: the machine's failure, not
        # the code's (a report would blame the code); Temporal retries the run.
        raise SandboxError("the sandbox container died mid-run (killed, or Docker stopped)")
    code = trailer.get("exit_code")
    if not isinstance(code, int):
        code = await engine.call(engine.exit_code, exec_id)
    return ExecResult(
        exit_code=code,
        output=bytes(streams.stdout),
        output_total=streams.stdout_total,
        timed_out=False,
        duration_s=duration,
        usage=trailer,
    )


def _container_gone(exc: BaseException) -> bool:
    """The engine no longer has the container (404), or it stopped (409: not running)."""
    return isinstance(exc, NotFound) or (
        isinstance(exc, APIError) and exc.status_code == 409 and "not running" in str(exc)
    )


def make_pool(engine: DockerEngine, limits: SandboxLimits, size: int) -> WarmPool[Warm]:
    async def create() -> Warm:
        warm: Warm = await engine.call(engine.start, limits)
        return warm

    async def dispose(warm: Warm) -> None:
        await engine.call(engine.kill, warm)

    return WarmPool(create, dispose, size)
