"""A worker in a network namespace of its own, reaching the host's loopback services only
through relays the test controls.

``unshare --net`` gives the worker a namespace whose loopback reaches nothing of the host.
Inside it, this module's ``main`` (run as ``python -m tests.drills.netns``) brings ``lo`` up
and listens on 127.0.0.1 at each service's port, passing every connection on to a Unix
socket; Unix sockets live in the filesystem, which both namespaces share. On the host side,
a ``Relay`` serves each socket and connects on to the service's real port. A ``Relay``'s
gate closed is a partition: new connections wait, bytes in flight stop where they are (as
packets dropped on a cut link), and everything resumes when it opens again. No iptables,
no veth pair, nothing but loopback and files.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import socket
import struct
import sys
from collections.abc import Sequence
from pathlib import Path

HOST = "127.0.0.1"
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, gate: asyncio.Event
) -> None:
    try:
        while data := await reader.read(65536):
            await gate.wait()  # a partition holds the bytes here until it ends
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            writer.close()


async def _join(
    a: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    b: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    gate: asyncio.Event,
) -> None:
    await asyncio.gather(_pipe(a[0], b[1], gate), _pipe(b[0], a[1], gate))


class Relay:
    """The host side of one service: a Unix socket that connects on to ``port``."""

    def __init__(self, sock: Path, port: int) -> None:
        self.sock, self.port = sock, port
        self.gate = asyncio.Event()
        self.gate.set()
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.sock))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self.gate.wait()
        try:
            upstream = await asyncio.open_connection(HOST, self.port)
        except OSError:
            writer.close()
            return
        await _join((reader, writer), upstream, self.gate)

    def cut(self) -> None:
        self.gate.clear()

    def restore(self) -> None:
        self.gate.set()

    async def close(self) -> None:
        self.gate.set()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await self._server.wait_closed()


def worker_in_namespace(relays: Sequence[Relay], ready: Path) -> list[str]:
    """The argv prefix that runs a command in a new network namespace, after the inner
    relays listen (``ready`` appears then)."""
    specs = [f"{r.port}={r.sock}" for r in relays]
    inner = [sys.executable, "-m", "tests.drills.netns", str(ready), *specs]
    script = f'{" ".join(inner)} & while [ ! -e {ready} ]; do sleep 0.05; done; exec "$@"'
    return ["unshare", "--net", "--", "sh", "-c", script, "sh"]


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH", b"lo", 0)
        flags = struct.unpack("16sH", fcntl.ioctl(s, _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack("16sH", b"lo", flags | _IFF_UP))


async def _inner(ready: Path, specs: list[str]) -> None:
    _loopback_up()
    always = asyncio.Event()
    always.set()
    servers = []
    for spec in specs:
        port, sock = spec.split("=", 1)

        async def serve(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sock: str = sock
        ) -> None:
            try:
                outside = await asyncio.open_unix_connection(sock)
            except OSError:
                writer.close()
                return
            await _join((reader, writer), outside, always)

        servers.append(await asyncio.start_server(serve, HOST, int(port)))
    await asyncio.to_thread(ready.touch)
    await asyncio.gather(*(s.serve_forever() for s in servers))


def main(argv: list[str]) -> None:
    asyncio.run(_inner(Path(argv[0]), argv[1:]))


if __name__ == "__main__":
    main(sys.argv[1:])
