"""`naestro dev`: the embedded stack starts, runs a task, stops on Ctrl-C, and a second
start on the same data dir still knows the task (SQLite history, pgserver data)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import yaml
from temporalio.client import Client
from temporalio.converter import DataConverter

from naestro import search
from naestro.client import start_task, task_handle
from naestro.contracts import TaskRequest
from tests.support import free_port, replay_provider, write_script
from tests.workflow.scripts import PROMPT, code_task_rules


class Dev:
    """One `naestro dev` process; its output goes to a log file the test reads."""

    def __init__(self, config: Path, log: Path) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("TEMPORAL_ADDRESS", "DATABASE_URL")}
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


def _config(tmp_path: Path) -> tuple[Path, int, int]:
    script = write_script(tmp_path / "script.jsonl", code_task_rules())
    port, ui = free_port(), free_port()
    roles = {r: ["scripted"] for r in ("planner", "implementer", "refiner", "judge")}
    data = {
        "providers": [replay_provider(script)],
        "policies": {"default": {"roles": roles}},
        "dev": {"data_dir": str(tmp_path / "data"), "temporal_port": port, "ui_port": ui},
    }
    config = tmp_path / "temporal.yaml"
    config.write_text(yaml.safe_dump(data))
    return config, port, ui


async def test_dev_stack_runs_a_task_and_keeps_it_across_restarts(
    tmp_path: Path, converter: DataConverter
) -> None:
    # `converter` holds the session's codec; its key is in the environment `naestro dev` gets.
    config, port, ui = _config(tmp_path)
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
