"""What sandboxed code cannot see or touch: the network, host files, the launcher's env."""

from __future__ import annotations

import fcntl
import os
import re
import socket
import struct
from pathlib import Path

import pytest
from temporalio.client import Client

from activities.sandbox import Sandbox
from tests.sandbox.conftest import NOBODY, needs_root, script, token

pytestmark = pytest.mark.timeout(30)

PROJECT = Path(__file__).resolve().parents[2]
SIOCGIFADDR = 0x8915

PROBE_FILES = """
import os, sys
for path in sys.argv[2:]:
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            open(path, "rb").read(1)
        print("READABLE", path)
    except OSError as exc:
        print("DENIED", path, type(exc).__name__)
print("ETC", sorted(os.listdir("/etc")))
"""
PROBE_WRITES = """
import os
for path in ("/usr/evil", "/etc/evil", "/evil", "/dev/evil", "/proc/evil",
             "/work/ok", "/tmp/ok", "/dev/shm/ok"):
    try:
        with open(path, "w") as file:
            file.write("x")
        print("WROTE", path)
    except OSError as exc:
        print("DENIED", path, type(exc).__name__)
"""
PROBE_ENV = """
import os
print("ENV", sorted(os.environ))
for pid in sorted(p for p in os.listdir("/proc") if p.isdigit()):
    try:
        with open(f"/proc/{pid}/environ", "rb") as file:
            print("PROC", pid, file.read().decode(errors="replace").replace("\\0", " "))
    except OSError as exc:
        print("UNREADABLE", pid, type(exc).__name__)
"""


def host_addresses() -> list[str]:
    """This machine's own IPv4 interface addresses (loopback, eth0, docker0, ...)."""
    found = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _, name in socket.if_nameindex():
            request = struct.pack("256s", name.encode()[:15])
            try:
                answer = fcntl.ioctl(probe.fileno(), SIOCGIFADDR, request)
            except OSError:
                continue  # no IPv4 address on this interface
            found.append(socket.inet_ntoa(answer[20:24]))
    return found


EGRESS = """
import socket, sys
for target in sys.argv[2:]:
    host, port = target.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
        print("CONNECTED", target)
    except OSError as exc:
        print("BLOCKED", target, type(exc).__name__)
print("IFACES", sorted(name for _, name in socket.if_nameindex()))
"""


async def test_network_egress_is_blocked(sandbox: Sandbox, client: Client) -> None:
    temporal_port = client.service_client.config.target_host.rsplit(":", 1)[1]
    with socket.socket() as listener:
        listener.bind(("0.0.0.0", 0))  # every address of this machine
        listener.listen()
        listener.setblocking(False)
        port = listener.getsockname()[1]
        addresses = host_addresses()
        targets = [f"{address}:{port}" for address in addresses]
        targets += [f"127.0.0.1:{temporal_port}", f"::1:{temporal_port}"]  # Temporal
        report = await sandbox.run(script(EGRESS, token(), *targets))
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing ever reached the host's listener
    assert report.passed, report.output
    assert "CONNECTED" not in report.output and "gaierror" not in report.output
    assert all(f"BLOCKED {target} " in report.output for target in targets), report.output
    assert len(addresses) >= 2  # loopback and at least one real interface were tried
    assert "IFACES ['lo']" in report.output


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    """A world-readable host file in a world-traversable dir."""
    tmp_path.chmod(0o755)
    made = tmp_path / "canary.txt"
    made.write_text("host secret")
    made.chmod(0o644)
    return made


async def test_host_files_are_out_of_sight(sandbox: Sandbox, canary: Path) -> None:
    secret = [
        "/etc/shadow",
        "/root",
        "/root/.ssh",
        str(PROJECT),
        str(PROJECT / "pyproject.toml"),
        str(canary),
    ]
    report = await sandbox.run(script(PROBE_FILES, token(), *secret))
    assert report.passed, report.output
    assert "READABLE" not in report.output
    assert all(f"DENIED {path} " in report.output for path in secret)
    if sandbox.name == "bwrap":  # Docker shows its image's own /etc, not the host's
        etc = "ETC ['alternatives', 'group', 'ld.so.cache', 'localtime', 'passwd']"
        assert etc in report.output


async def test_writes_outside_the_work_dir_fail(sandbox: Sandbox) -> None:
    report = await sandbox.run(script(PROBE_WRITES, token()))
    wrote = {line.split()[1] for line in report.output.splitlines() if line.startswith("WROTE")}
    assert wrote == {"/work/ok", "/tmp/ok", "/dev/shm/ok"}, report.output
    outside = ("/usr/evil", "/etc/evil", "/evil", "/dev/evil", "/proc/evil")
    assert all(f"DENIED {path} " in report.output for path in outside)
    assert not any(map(os.path.exists, outside))  # nor on the host


SANDBOX_ENV = {
    "bwrap": ["HOME", "LANG", "PATH", "PWD", "PYTHONDONTWRITEBYTECODE"],
    "docker": ["HOME", "HOSTNAME", "LANG", "PATH", "PYTHONDONTWRITEBYTECODE"],
}


async def test_launcher_environment_is_invisible(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary = token()
    monkeypatch.setenv("NAESTRO_CANARY", canary)
    report = await sandbox.run(script(PROBE_ENV, token()))
    assert report.passed, report.output
    assert canary not in report.output and "NAESTRO_CANARY" not in report.output
    assert f"ENV {SANDBOX_ENV[sandbox.name]}" in report.output
    if sandbox.name == "bwrap":
        # PID 1 is bwrap's own clone: its environment is the empty one the launcher passed.
        assert "PROC 1 \n" in report.output
    else:  # PID 1 is the container's keeper, started by dockerd with the image's env only
        pid1 = next(line for line in report.output.splitlines() if line.startswith("PROC 1 "))
        names = sorted(item.split("=", 1)[0] for item in pid1.split()[2:])
        assert names == sorted([*SANDBOX_ENV["docker"], "PWD"]), pid1  # sh adds PWD


@needs_root()
async def test_sandbox_user_has_no_privileges(sandbox: Sandbox) -> None:
    code = (
        "import os\n"
        "print('IDS', os.getuid(), os.geteuid(), os.getgroups())\n"
        "status = dict(l.split(':', 1) for l in open('/proc/self/status'))\n"
        "print('CAPS', status['CapEff'].strip(), status['CapBnd'].strip())\n"
        "import ctypes\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "CLONE_NEWUSER = 0x10000000\n"
        "print('USERNS', libc.unshare(CLONE_NEWUSER), ctypes.get_errno())\n"
    )
    report = await sandbox.run(script(code, token()))
    assert re.search(rf"IDS {NOBODY} {NOBODY} \[({NOBODY})?\]", report.output), report.output
    assert "CAPS 0000000000000000 0000000000000000" in report.output
    assert "USERNS -1 " in report.output  # --disable-userns: no nested user namespaces
