"""`naestro dev`: the embedded stack starts, runs a task, stops on Ctrl-C, and a second
start on the same data dir still knows the task (SQLite history, pgserver data). With no
key configured, it encrypts payloads with its own key and its Temporal UI decodes them."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import yaml
from google.protobuf import json_format
from playwright.async_api import async_playwright, expect
from temporalio.api.common.v1 import Payloads
from temporalio.client import Client
from temporalio.converter import DataConverter

from cli.devkey import KEY_FILE
from naestro import search
from naestro.client import start_task, task_handle
from naestro.codec import KEYS_ENV, EncryptionCodec, data_converter, parse_keys
from naestro.contracts import TaskRequest
from tests.api.test_browser import ARGS as BROWSER_ARGS
from tests.api.test_browser import CHROMIUM
from tests.support import free_port, replay_provider, write_script
from tests.workflow.scripts import PROMPT, code_task_rules, verdict

EXTERNAL = ("TEMPORAL_ADDRESS", "DATABASE_URL")


class Dev:
    """One `naestro dev` process; its output goes to a log file the test reads."""

    def __init__(
        self,
        config: Path,
        log: Path,
        drop: tuple[str, ...] = EXTERNAL,
        flags: tuple[str, ...] = (),
    ) -> None:
        env = {k: v for k, v in os.environ.items() if k not in drop}
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cli.main", "--config", str(config), "dev", *flags],
                cwd=config.parent,
                env={**env, "COLUMNS": "200", "NO_COLOR": "1"},
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    async def ready(self, marker: str = "Ctrl-C stops everything") -> str:
        for _ in range(1200):
            text = self.log.read_text(errors="replace")
            if marker in text:
                return text
            assert self.proc.poll() is None, f"naestro dev exited early:\n{text}"
            await asyncio.sleep(0.1)
        raise AssertionError(f"naestro dev never got ready:\n{self.log.read_text()}")

    async def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return await asyncio.to_thread(self.proc.wait, 60)


class Ports(NamedTuple):
    config: Path
    temporal: int
    ui: int
    api: int


def _config(tmp_path: Path, rules: list[dict[str, Any]] | None = None) -> Ports:
    script = write_script(tmp_path / "script.jsonl", rules or code_task_rules())
    port, ui, api = free_port(), free_port(), free_port()
    roles = {r: ["scripted"] for r in ("planner", "implementer", "refiner", "judge")}
    data = {
        "providers": [replay_provider(script)],
        "policies": {"default": {"roles": roles}},
        "dev": {"data_dir": str(tmp_path / "data"), "temporal_port": port, "ui_port": ui},
        "api": {"port": api},
    }
    config = tmp_path / "temporal.yaml"
    config.write_text(yaml.safe_dump(data))
    return Ports(config, port, ui, api)


async def test_dev_stack_runs_a_task_and_keeps_it_across_restarts(
    tmp_path: Path, converter: DataConverter
) -> None:
    # `converter` holds the session's codec; its key is in the environment `naestro dev` gets.
    config, port, ui, _ = _config(tmp_path)
    log = tmp_path / "dev.log"
    first = Dev(config, log)
    try:
        text = await first.ready()
        assert f"Temporal UI: http://localhost:{ui}" in text
        assert "Postgres: postgresql://" in text
        client = await Client.connect(f"127.0.0.1:{port}", data_converter=converter)
        handle = await start_task(client, TaskRequest(prompt=PROMPT, kind="code"), task_id="kept")
        result = await asyncio.wait_for(handle.result(), 120)
        assert result.status == "succeeded"
        desc = await handle.describe()
        assert desc.typed_search_attributes.get(search.STATUS) == "succeeded"
    finally:
        assert await first.interrupt() == 0
    assert log.read_text().rstrip().endswith("stopped")
    assert (tmp_path / "data" / "temporal.sqlite").exists()

    second = Dev(config, tmp_path / "dev2.log")
    try:
        await second.ready()
        client = await Client.connect(f"127.0.0.1:{port}", data_converter=converter)
        again = await task_handle(client, "kept").result()
        assert again == result
    finally:
        await second.interrupt()


SECRET_PROMPT = "Explain why the heron Quillonby prefers brackish water near Saltmarsh Lane."
SECRET_ANSWER = "Brackish shallows hold the sticklebacks Quillonby hunts."
SECRET_RULES = [
    {"role": "planner", "text": "Describe the estuary diet."},
    {"phase": "implement", "text": SECRET_ANSWER},
    {"role": "judge", "text": verdict(0.95)},
]


def _without_keys() -> tuple[str, ...]:
    return (*EXTERNAL, KEYS_ENV)


async def _keyed_client(address: str, key: str) -> Client:
    codec = EncryptionCodec(parse_keys(key))
    return await Client.connect(address, data_converter=data_converter(codec))


async def _decode_as_the_ui(ports: Ports, payloads: Payloads) -> list[bytes]:
    """POST to the codec endpoint the dev server gave its UI, from the UI's origin."""
    origin = f"http://localhost:{ports.ui}"
    async with httpx.AsyncClient() as http:
        settings = (await http.get(f"{origin}/api/v1/settings")).json()
        endpoint = settings["Codec"]["Endpoint"]
        assert endpoint == f"http://127.0.0.1:{ports.api}/codec"
        preflight = await http.options(
            f"{endpoint}/decode",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-namespace",
            },
        )
        assert preflight.headers["access-control-allow-origin"] == origin
        body = json_format.MessageToDict(payloads)
        headers = {"Origin": origin, "X-Namespace": "default"}
        reply = await http.post(f"{endpoint}/decode", json=body, headers=headers)
        evil = await http.post(
            f"{endpoint}/decode", json=body, headers={"Origin": "http://evil.test"}
        )
    assert reply.status_code == 200, reply.text
    assert evil.status_code == 403
    return [base64.b64decode(p["data"]) for p in reply.json()["payloads"]]


async def _ui_shows(ports: Ports, workflow_id: str, text: str) -> None:
    """The Temporal UI in headless Chromium shows `text` on the workflow's page."""
    url = f"http://localhost:{ports.ui}/namespaces/default/workflows/{workflow_id}"
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = await browser.new_page()
        await page.goto(url)
        await expect(page.get_by_text(text).first).to_be_visible(timeout=30_000)
        await browser.close()


def _status(ports: Ports, workflow_id: str) -> str:
    """`naestro status` from another shell: no key in its environment either."""
    env = {k: v for k, v in os.environ.items() if k not in _without_keys()}
    env |= {"TEMPORAL_ADDRESS": f"127.0.0.1:{ports.temporal}", "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "--config", str(ports.config), "status", workflow_id],
        cwd=ports.config.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_dev_stack_encrypts_with_its_own_key_and_its_ui_decodes(tmp_path: Path) -> None:
    ports = _config(tmp_path, SECRET_RULES)
    address = f"127.0.0.1:{ports.temporal}"
    key_file = tmp_path / "data" / KEY_FILE
    first = Dev(ports.config, tmp_path / "dev.log", drop=_without_keys())
    try:
        text = await first.ready()
        assert f"Payloads: encrypted with the dev key in {key_file}" in text
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        key = key_file.read_text().strip()
        client = await _keyed_client(address, key)
        handle = await start_task(client, TaskRequest(prompt=SECRET_PROMPT), task_id="secret")
        result = await asyncio.wait_for(handle.result(), 120)
        assert result.answer == SECRET_ANSWER

        raw = await Client.connect(address)  # no codec: what Temporal stores
        history = await raw.get_workflow_handle("secret").fetch_history()
        stored = history.to_json().encode() + b"".join(
            e.SerializeToString() for e in history.events
        )
        assert b"binary/encrypted" in stored
        for needle in ("Quillonby", "brackish", "Saltmarsh", "sticklebacks", "estuary"):
            assert needle.encode() not in stored, needle
        started = history.events[0].workflow_execution_started_event_attributes.input
        (request,) = await _decode_as_the_ui(ports, started)
        assert SECRET_PROMPT.encode() in request
        await _ui_shows(ports, "secret", "Saltmarsh Lane")
        assert "completed" in await asyncio.to_thread(_status, ports, "secret")
    finally:
        assert await first.interrupt() == 0
    log = (tmp_path / "dev.log").read_text()
    assert key.split(":", 1)[1] not in log  # the key is never printed
    inode = key_file.stat().st_ino

    second = Dev(ports.config, tmp_path / "dev2.log", drop=_without_keys())
    try:
        assert f"Payloads: encrypted with the dev key in {key_file}" in await second.ready()
        assert key_file.read_text().strip() == key and key_file.stat().st_ino == inode
        client = await _keyed_client(address, key)
        assert await task_handle(client, "secret").result() == result
    finally:
        assert await second.interrupt() == 0


# Process lifecycle: the servers `naestro dev` starts die with it, and a start finds and stops
# what an earlier run left behind (naestro/watchdog.py, naestro/pgembed.py).
SERVERS_ONLY = ("--no-worker", "--no-api")


def _servers(data: Path) -> dict[str, int]:
    """The running stack's Temporal dev server (the process serving its SQLite file) and
    postmaster (the pid it records)."""
    (temporal,) = [p for p in _serving(data) if _argv(p)[0].endswith("/temporal")]
    postgres = int((data / "pg" / "postmaster.pid").read_text().split()[0])
    assert _alive(temporal) and _alive(postgres)
    return {"temporal": temporal, "postgres": postgres}


def _argv(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return [""]


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _serving(data: Path) -> list[int]:
    """Any process whose command line names this data dir's databases."""
    markers = {str(data / "temporal.sqlite"), str(data / "pg")}
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and markers & set(_argv(int(entry.name))):
            if _alive(int(entry.name)):
                found.append(int(entry.name))
    return found


async def _gone(pids: list[int], within: float = 20.0) -> list[int]:
    for _ in range(int(within * 10)):
        if not any(_alive(p) for p in pids):
            return []
        await asyncio.sleep(0.1)
    return [p for p in pids if _alive(p)]


async def _none_serving(data: Path, within: float = 10.0) -> list[int]:
    """What still names this data dir after ``within`` seconds (nothing, as soon as so)."""
    for _ in range(int(within * 10)):
        if not _serving(data):
            return []
        await asyncio.sleep(0.1)
    return _serving(data)


async def test_killed_dev_stack_takes_its_servers_with_it(tmp_path: Path) -> None:
    config = _config(tmp_path).config
    dev = Dev(config, tmp_path / "dev.log", flags=SERVERS_ONLY)
    try:
        await dev.ready()
        servers = _servers(tmp_path / "data")
        dev.proc.kill()  # SIGKILL: no handler, no atexit
        dev.proc.wait(10)
        assert await _gone(list(servers.values())) == [], servers
        # Their watchdogs exit once the servers have (a loaded machine: a moment later).
        assert await _none_serving(tmp_path / "data") == []
    finally:
        if dev.proc.poll() is None:
            dev.proc.kill()


async def test_ctrl_c_stops_postgres_too(tmp_path: Path) -> None:
    config = _config(tmp_path).config
    dev = Dev(config, tmp_path / "dev.log", flags=SERVERS_ONLY)
    try:
        await dev.ready()
        servers = _servers(tmp_path / "data")
    finally:
        assert await dev.interrupt() == 0
    assert await _gone(list(servers.values()), within=5) == [], servers
    assert await _none_serving(tmp_path / "data") == []
    assert "leftover" not in (tmp_path / "dev.log").read_text()


def _orphans(data: Path, port: int, ui: int) -> dict[str, int]:
    """What a run before the watchdog left behind: a daemonized postmaster (pgserver's
    pg_ctl, no stop) and a dev server in a session of its own."""
    from cli.devstack import find_temporal

    pg = data / "pg"
    pg.mkdir(parents=True)
    code = "import sys; from pgserver import get_server; get_server(sys.argv[1], cleanup_mode=None)"
    subprocess.run([sys.executable, "-c", code, str(pg)], check=True, timeout=60)
    temporal = find_temporal(data, install=False)
    assert temporal is not None
    args = ["server", "start-dev", "--db-filename", str(data / "temporal.sqlite"), "--headless"]
    server = subprocess.Popen(
        [temporal, *args, "--port", str(port), "--ui-port", str(ui), "--log-level", "error"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    postgres = int((pg / "postmaster.pid").read_text().split()[0])
    return {"temporal": server.pid, "postgres": postgres}


async def test_a_restart_stops_leftovers_and_names_them(tmp_path: Path) -> None:
    ports = _config(tmp_path)
    data = tmp_path / "data"
    orphans = _orphans(data, ports.temporal, ports.ui)
    log = tmp_path / "dev.log"
    dev = Dev(ports.config, log, flags=SERVERS_ONLY)
    try:
        await dev.ready()
        assert await _gone(list(orphans.values()), within=5) == []
        servers = _servers(data)
    finally:
        assert await dev.interrupt() == 0
        for pid in orphans.values():
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
    text = log.read_text()
    temporal, postgres = orphans["temporal"], orphans["postgres"]
    assert f"stopping a leftover Temporal dev server (pid {temporal}) of an earlier run" in text
    assert f"stopping a leftover Postgres (pid {postgres}) of an earlier run" in text
    assert servers["temporal"] != temporal and servers["postgres"] != postgres
    assert await _gone(list(servers.values()), within=5) == []


async def test_a_second_dev_stack_on_the_same_data_dir_is_refused(tmp_path: Path) -> None:
    config = _config(tmp_path).config
    first = Dev(config, tmp_path / "dev.log", flags=SERVERS_ONLY)
    try:
        await first.ready()
        second = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "cli.main", "--config", str(config), "dev", *SERVERS_ONLY],
            cwd=config.parent,
            env={k: v for k, v in os.environ.items() if k not in EXTERNAL},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        assert await first.interrupt() == 0
    assert second.returncode == 1
    assert second.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'data'} is in use by another `naestro dev` (pid {first.proc.pid}): "
        "stop it, or give this one another dev.data_dir"
    ]
