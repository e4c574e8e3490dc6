"""The `temporal` CLI reads a Naestro history through the codec server, and only then."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import subprocess
from pathlib import Path
from typing import Any

import uvicorn
from temporalio.client import Client

from api.codec import create_app
from naestro.client import start_task
from naestro.codec import KEYS_ENV, EncryptionCodec
from naestro.contracts import TaskRequest
from tests.support import make_settings, replay_provider, running_workers, write_script
from tests.workflow.scripts import verdict

TOKEN = "cli-decode-token-0123456789"
PROMPT = "Summarise the dossier of Ms Perpetua Windlesham."


def _show(cli: str, client: Client, workflow_id: str, *codec: str) -> str:
    done = subprocess.run(
        [
            cli,
            "workflow",
            "show",
            "-w",
            workflow_id,
            "--address",
            client.service_client.config.target_host,
            "-o",
            "json",
            *codec,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_temporal_cli_decodes_only_through_the_codec_server(
    client: Client, codec: EncryptionCodec, temporal_cli: str, tmp_path: Path
) -> None:
    rules = [
        {"role": "planner", "text": "plan"},
        {"phase": "implement", "text": "ok"},
        {"role": "judge", "text": verdict(0.9)},
    ]
    settings = make_settings(tmp_path, [replay_provider(write_script(tmp_path / "s.jsonl", rules))])
    async with running_workers(client, settings):
        handle = await start_task(
            client, TaskRequest(prompt=PROMPT), task_queue=settings.queues.orchestrator
        )
        await handle.result()
    app = create_app({KEYS_ENV: os.environ[KEYS_ENV], "NAESTRO_CODEC_TOKEN": TOKEN})
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    sock = socket.create_server(("127.0.0.1", 0))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    endpoint = f"http://127.0.0.1:{sock.getsockname()[1]}/codec"
    try:
        raw = await asyncio.to_thread(_show, temporal_cli, client, handle.id)
        decoded = await asyncio.to_thread(
            _show,
            temporal_cli,
            client,
            handle.id,
            "--codec-endpoint",
            endpoint,
            "--codec-auth",
            f"Bearer {TOKEN}",
        )
    finally:
        server.should_exit = True
        await serving
    assert "Windlesham" not in _payload_text(raw)
    assert "Windlesham" in _payload_text(decoded)


def _payload_text(history_json: str) -> str:
    """Every payload's data in the history, base64-decoded (proto JSON encodes bytes)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "metadata" in node and isinstance(node.get("data"), str):
                found.append(base64.b64decode(node["data"]).decode(errors="replace"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(history_json))
    assert found, "no payloads in the history"
    return "\n".join(found)
