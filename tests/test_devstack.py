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

    def __init__(self, config: Path, log: Path, drop: tuple[str, ...] = EXTERNAL) -> None:
        env = {k: v for k, v in os.environ.items() if k not in drop}
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cli.main", "--config", str(config), "dev"],
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
